"""Per-token form of the LSTM students (tfdistil/edge/convert/stream_split.py): a step model invoked once
per token and heads over fewer positions answer bit for bit as the 64-step flatbuffer, in the
host TFLM interpreter (what the per-token firmware runs, see test_firmware_qemu.py) and LiteRT."""
import os

import numpy as np
import pytest

from tfdistil.data.splits import load_split
from tfdistil.data.vocab import Vocab
from tfdistil.edge.host.evaluate import TFLMRunner
from tfdistil.edge.convert.export import op_list
from tfdistil.edge.convert.stream_split import PerTokenTFLM, pick_head, split, step_model
from tfdistil.errors import UserError

HEADS = [8, 16, 32]


def _vocab(model_path):
    return Vocab.load(os.path.join(os.path.dirname(model_path), "vocab.json"))


def _same_as_full(model_path, sentences):
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    parts = split(model_bytes, HEADS)
    ids = _vocab(model_path).encode_batch(sentences, parts["max_len"])
    full, per_token = TFLMRunner(model_bytes), PerTokenTFLM(parts)
    same = sum(np.array_equal(full(ids[i:i + 1]).view(np.uint32), per_token(ids[i:i + 1]).view(np.uint32))
               for i in range(len(ids)))
    return parts, model_bytes, same


@pytest.mark.parametrize("student", ["bilstm", "bilstm_attn"])
def test_per_token_is_bit_identical_to_the_full_model(student, converted_int8, data_dir):
    sentences = load_split(data_dir, "dev", 60).sentences + ["", "ok", " ".join(["long"] * 70)]
    parts, model_bytes, same = _same_as_full(converted_int8[student]["path"], sentences)
    assert same == len(sentences)
    assert sorted(parts["heads"]) == HEADS + [64]  # the model's own length is always there
    # the pieces hold the weights once: the step has the embedding and LSTMs, a head the rest
    assert len(parts["step"]) < len(model_bytes) and all(len(h) < len(model_bytes) // 2 for h in parts["heads"].values())
    assert set(op_list(parts["step"])) == {"GATHER", "UNIDIRECTIONAL_SEQUENCE_LSTM"}


@pytest.mark.parametrize("attention_dim", [0, 12])
def test_a_feature_axis_as_long_as_the_time_axis_is_not_cut(data_dir, tmp_path, attention_dim):
    """Hidden 32: the attention's [fwd; bwd] vectors have 64 features, as many as the model has
    positions; only the time axis of a shorter head may shrink. Also with a narrower attention
    projection (64 -> 12, `attention_dim`)."""
    from tfdistil.config import Config
    from tfdistil.edge.convert.export import convert
    from tfdistil.training.fit import fit
    run = str(tmp_path / "run")
    fit(Config(student="bilstm_attn", embed_dim=8, hidden=32, attention_dim=attention_dim, epochs=1, train_limit=300,
               seed=2), data_dir, run,
        log=lambda m: None)
    model = convert(run, "int8", max_len=64, data=data_dir, calibration_size=50)["path"]
    sentences = load_split(data_dir, "dev", 40).sentences
    _, _, same = _same_as_full(model, sentences)
    assert same == len(sentences)


def test_shortest_head_that_holds_the_sentence():
    assert [pick_head([16, 32, 64], n) for n in (0, 1, 16, 17, 33, 64)] == [16, 16, 16, 32, 64, 64]


def test_a_cnn_cannot_be_split_and_says_why(converted_int8):
    with open(converted_int8["cnn"]["path"], "rb") as f:
        with pytest.raises(UserError, match="only the bilstm and bilstm_attn"):
            step_model(f.read())


def test_a_float32_model_is_refused_in_one_line(tiny_run, data_dir, tmp_path):
    from tfdistil.edge.convert.export import convert
    model = convert(tiny_run["bilstm"], "float32", max_len=64, out=str(tmp_path / "f.tflite"), data=data_dir)["path"]
    with open(model, "rb") as f:
        with pytest.raises(UserError, match="only int8 models"):
            split(f.read(), HEADS)

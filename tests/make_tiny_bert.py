"""Write a tiny, randomly initialised BERT teacher checkpoint with its own vocab.txt.

transformers' TF models need Keras 2 (tf_keras): run it as a script, or call main(OUT) in a process
that set TF_USE_LEGACY_KERAS=1 before TensorFlow loaded (the test workers do: tests/conftest.py).
Usage: python make_tiny_bert.py OUT_DIR
"""
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification  # noqa: E402

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def main(out):
    os.makedirs(out, exist_ok=True)
    # Word-level vocabulary from the first SST-2 training rows: small, real words.
    words = set()
    data = os.environ.get("TFDISTIL_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "sst2"))
    with open(os.path.join(data, "train.tsv"), encoding="utf-8") as f:
        next(f)
        for i, line in enumerate(f):
            words.update(line.split("\t")[0].split())
            if i > 2000:
                break
    vocab = SPECIAL + sorted(w for w in words if w.isascii())[:3000]
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=160, num_labels=2)
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(out)
    BertTokenizerFast(vocab_file=os.path.join(out, "vocab.txt"), do_lower_case=True).save_pretrained(out)


if __name__ == "__main__":
    main(sys.argv[1])

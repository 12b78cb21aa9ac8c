#!/usr/bin/env python3
"""Where a student loses to its teacher: SST-2 test accuracy by the number of out-of-vocabulary words.

A word student knows only the words of its vocabulary (the train rows' words, or the most frequent
of them); every other word reaches it as `<unk>`. The teacher reads wordpieces and knows them all.
This script splits the 1,821 test sentences by how many `<unk>` ids the student's own tokenizer
gives them and reports, per group, the int8 student's accuracy in LiteRT, the teacher's (from its
logits cache) and how often the two agree -> experiments/paper_attn_mpnet/oov_gap.md.

    .venv/bin/python experiments/paper_attn_mpnet/oov_gap.py [--teacher-logits tfdistil/assets/sst2_mpnet_logits.npz]
        [--models results/models/paper-attn-mpnet-ti results/models/mcu-attn-e20h32a16-v8800]
        [--data ../shared/data/sst2] [--out experiments/paper_attn_mpnet/oov_gap.md]
"""
import argparse
import glob
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from tfdistil.data.splits import load_split  # noqa: E402
from tfdistil.data.vocab import Vocab  # noqa: E402
from tfdistil.files import atomic_write_text  # noqa: E402
from tfdistil.teacher.logits_cache import read_logits  # noqa: E402

GROUPS = (("no <unk>", 0, 0), ("1 <unk>", 1, 1), ("2 or more", 2, 10 ** 9))


def unk_counts(vocab, sentences):
    """`<unk>` ids per sentence (id 1 in every tfdistil vocabulary; a hashed one has none)."""
    return (vocab.encode_batch(sentences, vocab.max_len) == 1).sum(axis=1)


def gap_table(labels, student_pred, teacher_pred, unk):
    """Rows of (group, sentences, student %, teacher %, agreement %) for the groups and all."""
    rows = []
    for name, lo, hi in GROUPS + (("all", 0, 10 ** 9),):
        m = (unk >= lo) & (unk <= hi)
        if m.any():
            rows.append((name, int(m.sum()), 100 * float(np.mean(student_pred[m] == labels[m])),
                         100 * float(np.mean(teacher_pred[m] == labels[m])),
                         100 * float(np.mean(student_pred[m] == teacher_pred[m]))))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher-logits", default=os.path.join(ROOT, "tfdistil", "assets", "sst2_mpnet_logits.npz"))
    p.add_argument("--models", nargs="+", default=[os.path.join(ROOT, "results", "models", m) for m in
                                                    ("paper-attn-mpnet-ti", "mcu-attn-e20h32a16-v8800")])
    p.add_argument("--data", default=os.environ.get("TFDISTIL_DATA",
                                                    os.path.join(ROOT, "..", "shared", "data", "sst2")))
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "oov_gap.md"))
    args = p.parse_args(argv)
    from tfdistil.edge.host.evaluate import evaluate_tflite
    test = load_split(args.data, "test")
    teacher_logits, header = read_logits(args.teacher_logits, "test", test.sha256, len(test))
    teacher_pred = teacher_logits.argmax(-1)
    rel = lambda path: os.path.relpath(path, ROOT)  # noqa: E731
    lines = ["# Student against teacher by out-of-vocabulary words (SST-2 test)", "",
             f"Written by `python experiments/paper_attn_mpnet/oov_gap.py`. Teacher: `{rel(args.teacher_logits)}` "
             f"({header.get('teacher', '?')}). Student: the int8 flatbuffer in LiteRT (builtin kernels). "
             "A sentence's group is the number of `<unk>` ids the student's own tokenizer gives it; for a "
             "wordpiece student (`--subwords`, almost no `<unk>`), the number of its words outside the train "
             "words, i.e. the groups of a word student with the full train vocabulary.", ""]
    for folder in args.models:
        model = sorted(glob.glob(os.path.join(folder, "*_int8_L*.tflite")))[0]
        vocab = Vocab.load(os.path.join(folder, "vocab.json"))
        result = evaluate_tflite(model, args.data, "test", runtime="litert", keep_logits=True)
        if vocab.subwords:  # it has (almost) no <unk>: group by the words a full train-word vocabulary lacks
            unk = unk_counts(Vocab.build(load_split(args.data, "train").sentences, vocab.max_len), test.sentences)
        else:
            unk = unk_counts(vocab, test.sentences)
        lines += [f"## `{rel(folder)}` ({len(vocab):,}-id {vocab.kind()} vocabulary, {result['model_bytes']:,} B)", "",
                  "| test sentences | n | student | teacher | agreement |", "| --- | --- | --- | --- | --- |"]
        for name, n, s, t, a in gap_table(test.labels, result["logits"].argmax(-1), teacher_pred, unk):
            lines.append(f"| {name} | {n:,} | {s:.2f} | {t:.2f} | {a:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()

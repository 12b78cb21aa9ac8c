"""A limited sample of a split that keeps its classes: what `tfdistil firmware --limit N` measures.

The first N rows of a file can all be one class (20 SST-2 test sentences were), and then accuracy
and macro-F1 say little. `stratified()` takes N rows with every class in its share of the split,
deterministically (no random numbers: the same file and N give the same rows on any machine).
"""
import hashlib
from dataclasses import replace

import numpy as np

from tfdistil.data.splits import load_split


def class_counts(labels, n):
    """Rows per class for a sample of `n` of `labels`: each class's share of n, rounded by largest
    remainder (ties to the lower class index), then at least one row of every class when n allows."""
    present, sizes = np.unique(np.asarray(labels), return_counts=True)
    n = min(int(n), int(sizes.sum()))
    exact = sizes * n / sizes.sum()
    take = np.floor(exact).astype(int)
    for i in sorted(range(len(sizes)), key=lambda i: (-(exact[i] - take[i]), i))[: n - int(take.sum())]:
        take[i] += 1
    while n >= len(sizes) and (take == 0).any():  # a rare class gets one row, from the largest
        take[int(np.argmax(take))] -= 1
        take[int(np.argmin(take))] += 1
    return {int(c): int(k) for c, k in zip(present, take)}


def stratified_indices(labels, n):
    """Row indices, in file order: for each class, its `class_counts` rows evenly spaced through that
    class's rows (the middle of each of k equal stretches), so the sample is spread over the file."""
    labels = np.asarray(labels)
    chosen = []
    for c, k in class_counts(labels, n).items():
        rows = np.flatnonzero(labels == c)
        chosen += [int(rows[int((i + 0.5) * len(rows) / k)]) for i in range(k)]
    return sorted(chosen)


def stratified(split, n):
    """`split` cut to n rows by `stratified_indices`; the whole split when n is None/0 or covers it."""
    if not n or n >= len(split):
        return split
    idx = stratified_indices(split.labels, n)
    return replace(split, sentences=[split.sentences[i] for i in idx], labels=split.labels[idx],
                   sha256=hashlib.sha256((split.sha256 + f":stratified{n}").encode()).hexdigest())


def load_sample(data, split, limit=None, how="stratified"):
    """The rows a limited run reads: `stratified(load_split(data, split), limit)`, or with
    how="first" the first `limit` rows of the file (load_split's own cut)."""
    if how not in ("stratified", "first"):
        raise ValueError(f"sample {how!r}: stratified or first")
    return load_split(data, split, limit) if how == "first" else stratified(load_split(data, split), limit)


def describe(split, limit, how="stratified"):
    """One line for a result: which rows it ran on and how many of each class."""
    names = list(split.label_names)
    counts = ", ".join(f"{names[c] if c < len(names) else c} {k}" for c, k in
                       zip(*np.unique(split.labels, return_counts=True)))
    rows = ("every row of the split" if not limit else f"the first {len(split)} rows of the file" if how == "first"
            else f"a stratified sample of {len(split)} (each class in its share of the split, evenly spaced "
                 "through the file)")
    return f"{split.name}: {rows}; per class: {counts}"

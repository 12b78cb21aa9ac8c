"""Rows that are phrases of other rows, and why a held-out split must not cut through them.

SST-2's train file is the Stanford Sentiment Treebank's phrases: 67,349 rows of which only
6,885 are whole sentences; every other row is a span of one of them (labelled on its own).
Hold out a random 10% of such rows and ~89% of them are spans of sentences that stayed in
train: a score on them partly measures memory, so it flatters big students and disagrees with
dev and test (whole sentences). `distil --selection-split sentences` (`workdata._hold_out`) holds
out whole rows instead and drops every train row that is a span of a held one, so nothing held out
was seen, even in part.

Texts are compared as lower-cased whitespace words; a span is a contiguous run of words.
The search walks each row's word runs only as far as they are the start of some row, so it
costs about one pass over the words for short phrases and long documents alike.
"""
import numpy as np


def _words(texts):
    return [tuple(t.lower().split()) for t in texts]


def _prefixes(rows):
    return {r[:k] for r in rows for k in range(1, len(r) + 1)}


def _spans_in(rows, targets, prefixes):
    """For each row, yield (row index, span) for every span of it that is a target text."""
    for i, w in enumerate(rows):
        for a in range(len(w)):
            for b in range(a + 1, len(w) + 1):
                span = w[a:b]
                if span not in prefixes:
                    break
                if span in targets:
                    yield i, span


def inside_other_rows(texts):
    """Boolean per row: its text is a span of another row (or repeats one)."""
    rows = _words(texts)
    first, inside = {}, np.zeros(len(rows), bool)
    for i, r in enumerate(rows):
        if r in first:
            inside[i] = inside[first[r]] = True
        else:
            first[r] = i
    for i, span in _spans_in(rows, first, _prefixes(first)):
        if span != rows[i]:
            inside[first[span]] = True
    return inside


def share_inside(held, texts):
    """Share of `held` texts that are a span of (or equal to) one of `texts`: what a held-out
    split has already shown the model in training."""
    targets = set(_words(held))
    if not targets:
        return 0.0
    hit = {span for _, span in _spans_in(_words(texts), targets, _prefixes(targets))}
    return sum(h in hit for h in _words(held)) / len(held)


def copies_of(held, texts):
    """Indices of `texts` that repeat one of the `held` texts (same words): users' files repeat rows,
    and a row held out for a vote must not stay in train as its copy."""
    targets = set(_words(held))
    return [i for i, r in enumerate(_words(texts)) if r in targets]


def spans_of(held, texts):
    """Indices of `texts` that are a span of (or equal to) one of the `held` texts."""
    spans = set()
    for w in _words(held):
        spans.update(w[a:b] for a in range(len(w)) for b in range(a + 1, len(w) + 1))
    return [i for i, r in enumerate(_words(texts)) if r in spans]

"""Classification metrics for any number of classes, in plain numpy.

Accuracy alone hides a class a model never predicts; with topic or intent labels
that are rarely balanced, macro-F1 (every class weighs the same) and the confusion
matrix say which classes a tiny student gives up on.
"""
import numpy as np


def classification_report(labels, predictions, names):
    """{accuracy, macro_f1, per_class: {name: {precision, recall, f1, support}}, confusion, labels}.
    confusion[i][j] = rows of true class i predicted as j."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    k = len(names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class, f1s = {}, []
    for i, name in enumerate(names):
        tp = confusion[i, i]
        predicted, support = confusion[:, i].sum(), confusion[i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(float(precision), 6), "recall": round(float(recall), 6),
                           "f1": round(float(f1), 6), "support": int(support)}
        if support:  # a class absent from this split has no recall to average
            f1s.append(f1)
    return {"accuracy": float(np.mean(labels == predictions)) if len(labels) else 0.0,
            "macro_f1": round(float(np.mean(f1s)), 6) if f1s else 0.0,
            "per_class": per_class, "confusion": confusion.tolist(), "labels": list(names)}


def markdown(report):
    """The per-class table and the confusion matrix as Markdown."""
    names = report["labels"]
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for n in names:
        c = report["per_class"][n]
        rows.append(f"| {n} | {100 * c['precision']:.1f} | {100 * c['recall']:.1f} | {100 * c['f1']:.1f} | {c['support']} |")
    rows += ["", "| true \\ predicted | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for n, row in zip(names, report["confusion"]):
        rows.append(f"| {n} | " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(rows)


def plot_confusion(report, path, title=""):
    """Row-normalised confusion matrix as a PNG (counts written in the cells), written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfdistil.files import atomic_save
    names, counts = report["labels"], np.asarray(report["confusion"])
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = 1.6 + 0.55 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {100 * report['accuracy']:.2f}, macro-F1 {100 * report['macro_f1']:.2f}",
                 fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def score(gold, pred, k, metric="macro_f1"):
    """Accuracy or macro-F1 of integer labels over k classes, fast enough to call in a bootstrap loop."""
    if metric == "accuracy":
        return float(np.mean(gold == pred))
    conf = np.bincount(gold * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(conf).astype(float)
    p, r = tp / np.maximum(conf.sum(0), 1), tp / np.maximum(conf.sum(1), 1)
    return float(np.mean(np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)))


def gap_interval(gold, teacher, students, k, metric="accuracy", draws=2000, seed=0):
    """The teacher's lead over a recipe (teacher's score minus the mean of its seeds' scores) with a 95 %
    paired bootstrap interval over rows. Why: on a few hundred rows a lead of a few points can be noise,
    and a target such as "within 5 points of the teacher" is a statement about the task, not the sample.
    Returns {"metric", "value", "ci95": [lo, hi], "draws"} in points."""
    return lead_interval(gold, [teacher], students, k, metric, draws, seed)


def lead_interval(gold, ahead, behind, k, metric="accuracy", draws=2000, seed=0):
    """How far one set of models' mean score is ahead of another's on the same rows, in points, with a
    95 % paired bootstrap interval: each draw resamples the rows once for all models, so what the models
    share (a hard row) cancels and what is left is the sample's doubt about the lead (a lever against the
    recipe it was weighed on, each side the mean over its seeds). Returns {"metric", "value", "ci95", "draws"}."""
    gold = np.asarray(gold)
    ahead, behind = [np.asarray(m) for m in ahead], [np.asarray(m) for m in behind]

    def lead(idx):
        return 100 * (np.mean([score(gold[idx], m[idx], k, metric) for m in ahead])
                      - np.mean([score(gold[idx], m[idx], k, metric) for m in behind]))
    rng = np.random.default_rng(seed)
    values = np.array([lead(rng.integers(0, len(gold), len(gold))) for _ in range(draws)])
    lo, hi = np.percentile(values, [2.5, 97.5])
    return {"metric": metric, "value": round(float(lead(np.arange(len(gold)))), 3), "ci95": [round(float(lo), 3),
            round(float(hi), 3)], "draws": draws}


"""The report's two pictures: accuracy against int8 size, and dev accuracy per epoch."""
import os
import numpy as np
from tfdistil.report.collect import by_setting
from tfdistil.report.paper import COLORS, PAPER, STUDENT_NAMES, STUDENT_ORDER
from tfdistil.report.stats import _value, int8_accuracy, mean_std


# --------------------------------------------------------------------------- plots
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    """PNG via a temporary name: a reader never sees half an image."""
    plt = _plt()
    tmp = f"{path}.tmp{os.getpid()}"
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_accuracy_vs_size(groups, students, teacher, path, tuned=()):
    """Test accuracy against int8 flatbuffer bytes; the paper (and our teacher, which has no
    int8 file) are placed at params × 1 byte, the size an int8 export of them would have.
    Tuned runs (--tuned) are drawn as their own points, one per setting (mean over its seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.8))
    int8_labelled = False
    points = [(s, mode, marker, groups.get((s, mode), []), f"{STUDENT_NAMES.get(s, s)} {mode} (ours, Keras)")
              for s in students for mode, marker in (("baseline", "o"), ("distill", "s"), ("augment", "D"))]
    points += [(rs[0]["student"], "tuned", "P", rs, f"{setting} (tuned, ours, Keras)")
               for setting, rs in by_setting(tuned).items()]
    for s, mode, marker, rs, label in points:
        size = mean_std(_value(rs, lambda r: r["manifest_int8"]["bytes"]))[0]
        acc = mean_std(_value(rs, lambda r: r["metrics"]["test_accuracy"]))
        if size is None or acc[0] is None:
            continue
        ax.errorbar(size, 100 * acc[0], yerr=100 * (acc[1] or 0), fmt=marker, color=COLORS.get(s),
                    capsize=3, alpha=0.8, markersize=7 if mode == "baseline" else 6,
                    markeredgecolor="black" if mode == "tuned" else None, label=label)
        if mode == "tuned":  # several tuned settings can share a student's colour: name each point
            ax.annotate(label.split(" (")[0], (size, 100 * acc[0]), textcoords="offset points", xytext=(6, 4),
                        fontsize=6.5)
        q = mean_std([int8_accuracy(r)[0] for r in rs])[0]
        if q is not None:
            ax.plot(size, 100 * q, marker="x", color=COLORS.get(s), linestyle="none", markersize=8,
                    label=None if int8_labelled else "int8 .tflite's own test accuracy (ours)")
            int8_labelled = True
    if teacher["params"] and teacher["test_accuracy"] is not None:
        ax.plot(teacher["params"], 100 * teacher["test_accuracy"], marker="*", markersize=14, color="black",
                linestyle="none", label="teacher (ours), params × 1 B")
    p = PAPER["teacher"]
    ax.plot(p["params_m"] * 1e6, p["test_accuracy"], marker="*", markersize=14, markerfacecolor="none",
            color="gray", linestyle="none", label=f"{p['name']} (paper), params × 1 B")
    for s in STUDENT_ORDER:
        ps = PAPER["students"][s]
        if not ps["params_m"]:
            continue
        for mode, marker in (("baseline", "o"), ("distill", "s")):
            ax.plot(ps["params_m"] * 1e6, ps[mode], marker=marker, markerfacecolor="none", markersize=9,
                    color=COLORS[s], linestyle="none", label=f"{STUDENT_NAMES[s]} {mode} (paper), params × 1 B")
    ax.set_xscale("log")
    ax.set_xlabel("model size (bytes, log): int8 .tflite for ours; params × 1 byte where marked")
    ax.set_ylabel("SST-2 test accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: the points need the room
    fig.tight_layout()
    _save(fig, path)


def plot_dev_curves(groups, students, path):
    """Dev accuracy per epoch, baseline against distilled, one panel per student, one line per seed."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, max(1, len(students)), figsize=(4.2 * max(1, len(students)), 3.4), squeeze=False)
    for ax, s in zip(axes[0], students):
        for mode, color in (("baseline", "tab:blue"), ("distill", "tab:orange")):
            rs = [r for r in groups.get((s, mode), []) if r["history"]]
            for i, r in enumerate(rs):
                ax.plot([h["epoch"] for h in r["history"]], [100 * h["dev_accuracy"] for h in r["history"]],
                        color=color, alpha=0.35 if len(rs) > 1 else 1.0, marker="." if len(r["history"]) < 3 else None,
                        label=None if len(rs) > 1 else f"{mode} (seed {r['seed']})")
            if len(rs) > 1:
                n = min(len(r["history"]) for r in rs)
                mean = np.mean([[100 * h["dev_accuracy"] for h in r["history"][:n]] for r in rs], axis=0)
                ax.plot(range(1, n + 1), mean, color=color, linewidth=2.2, label=f"{mode} (mean of {len(rs)} seeds)")
        ax.set_title(STUDENT_NAMES.get(s, s))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("dev accuracy (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)

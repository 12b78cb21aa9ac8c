"""`OUT/candidates.png`: what distil weighed, as a picture a person reads in a glance.

Left, every candidate at its flash size (model + C vocabulary for a microcontroller, the model for a
Pi) against its selection score, the budget as a line and the teacher's score as another: how much
of the budget each lever used and what it bought. Right, when the slices were scored, the chosen
candidate beside the teacher on each slice of the selection split: where meaning composes ("not",
"but") the gap is usually widest. Nothing here reads test.

`OUT/levers.png`: each lever's lead over the recipe it was weighed against, with the selection split's
paired 95 % interval, kept levers in colour: whether the chain of kept levers climbed real leads or the
split's noise is a glance, not a table.
"""


def candidates_png(path, candidates, chosen, metric, teacher_score, budget_bytes, slices=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = None
    if slices and slices.get("models"):
        rows = next((m["rows"] for m in slices["models"] if (m["name"], m["seed"]) == (chosen["name"], chosen["seed"])),
                    None)
    fig, axes = plt.subplots(1, 2 if rows else 1, figsize=(10 if rows else 5.5, 3.6), squeeze=False)
    ax = axes[0][0]
    for r in candidates:
        x, y = r["flash_bytes"] / 1024, 100 * r["selection"][metric]
        ax.plot([x], [y], marker="*" if r["name"] == chosen["name"] else "o",
                markersize=14 if r["name"] == chosen["name"] else 6,
                color="tab:orange" if r["name"] == chosen["name"] else ("tab:blue" if r["fits"] else "tab:gray"),
                linestyle="none")
        ax.annotate(r["name"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if teacher_score is not None:
        ax.axhline(100 * teacher_score, color="tab:green", linestyle="--", linewidth=1, label="teacher")
    if budget_bytes:
        ax.axvline(budget_bytes / 1024, color="tab:red", linestyle=":", linewidth=1, label="budget")
    ax.set_xlabel("flash (KB)")
    ax.set_ylabel(f"selection {metric.replace('_', '-')} (%)")
    ax.set_title("candidates (seed 0); star = chosen")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if rows:
        ax = axes[0][1]
        known = [r for r in rows if r["accuracy"] is not None]
        xs = range(len(known))
        ax.bar([x - 0.2 for x in xs], [100 * r["teacher_accuracy"] for r in known], width=0.4, label="teacher",
               color="tab:green")
        ax.bar([x + 0.2 for x in xs], [100 * r["accuracy"] for r in known], width=0.4,
               label=f"{chosen['name']} (seed {chosen['seed']})", color="tab:orange")
        ax.set_xticks(list(xs), [f"{r['slice']}\n(n={r['n']:,})" for r in known], fontsize=8)
        low = min(min(r["accuracy"], r["teacher_accuracy"]) for r in known)
        ax.set_ylim(max(0, 100 * low - 10), 100)
        ax.set_ylabel("selection accuracy (%)")
        ax.set_title("by slice, selection split")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def levers_png(path, levers, kept, metric, keep_margin=0.0):
    """A forest plot of `levers` (records with "lead" and "against"), top first; `kept` names those kept."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(levers) + 1.4))
    for i, r in enumerate(levers):
        y, lead = len(levers) - 1 - i, r["lead"]
        color = "tab:orange" if r["name"] in kept else "tab:gray"
        ax.errorbar([lead["value"]], [y], xerr=[[lead["value"] - lead["ci95"][0]], [lead["ci95"][1] - lead["value"]]],
                    fmt="o", color=color, capsize=3)
    ax.set_yticks(range(len(levers)), [_short(r) for r in reversed(levers)], fontsize=8)
    ax.axvline(0, color="black", linewidth=1)
    if keep_margin:
        ax.axvline(keep_margin, color="tab:red", linestyle=":", linewidth=1, label=f"--keep-margin {keep_margin:g}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(f"lead in selection {metric.replace('_', '-')} (points), 95 % paired interval")
    ax.set_title("each lever against the recipe it was weighed on (orange = kept)", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _short(r):
    """`-lr` for a lever named after the recipe it was weighed against, else the whole name."""
    return r["name"][len(r["against"]):] if r["name"].startswith(r["against"]) else r["name"]

"""The search's leaderboard as CSV and Markdown, one row per trial."""
import csv
import io
import os
from tfdistil.files import atomic_write_text
from tfdistil.search.space import KB


# --------------------------------------------------------------------------- leaderboard
def _leaderboard_table(rows, space):
    """Header and rows, best first; failed trials last."""
    names = [n for n in space if n != "max_vocab"]
    header = ["rank", "trial", "status", "epochs", "max_vocab", "vocab_size", *names, "params",
              "est_int8_kb", "int8_kb", "dev_accuracy", "best_epoch", "train_seconds"]
    done = _ranked([r for r in rows if r["status"] == "COMPLETED"])
    rest = [r for r in rows if r["status"] != "COMPLETED"]
    table = []
    for rank, r in enumerate(done + rest, start=1):
        c = r["config"]
        hp = [",".join(map(str, c[n])) if n == "kernel_sizes" else c[n] for n in names]
        table.append([rank if r in done else "", r["trial"], r["status"], c["epochs"], c["max_vocab"], c["vocab_size"],
                      *hp, r.get("params", ""), _kb(r.get("int8_bytes_estimated")), _kb(r.get("int8_bytes")),
                      _num(r.get("dev_accuracy"), 4), r.get("best_epoch", ""), r.get("train_seconds", "")])
    return header, table


def _kb(n):
    return "" if n is None else f"{n / KB:.1f}"


def _num(x, digits):
    return "" if x is None else f"{x:.{digits}f}"


def _write_leaderboard(rows, space, out):
    header, table = _leaderboard_table(rows, space)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    atomic_write_text(os.path.join(out, "leaderboard.csv"), buf.getvalue())
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(v) for v in row) + " |" for row in table]
    note = ("\nint8_kb is measured (converted) for the top trials only; est_int8_kb is the estimate the budget "
            f"was checked with. KB = {KB} bytes. dev_accuracy is the trial's best epoch.\n")
    atomic_write_text(os.path.join(out, "leaderboard.md"), "\n".join(md) + "\n" + note)

def _ranked(rows):
    """Best dev accuracy first; ties go to the smaller model, then the earlier trial."""
    return sorted(rows, key=lambda r: (-r["dev_accuracy"], r["int8_bytes_estimated"], int(r["trial"])))

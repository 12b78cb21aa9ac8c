"""`--refit`: once every choice is made, the chosen recipe's seeds train again with the text the
selection split held back.

Why: the selection split's job ends with the choice. In `sentences` mode on SST-2 it holds out a fifth
of train's whole sentences (and their phrases), text the shipped model can still learn from. Nothing
is chosen among the refit models (they trained on the selection split, so it cannot score them): the
seed chosen on selection ships, their dev accuracy stands beside the models they replace, and test is
read for them alone. The vocabulary stays the chosen model's (built from the carved train), so the
flash is the one the budget was checked against.
"""
import os

from tfdistil.distil.steps import engine, quiet, train_and_score
from tfdistil.errors import UserError


def refit_text(o, c, log):
    """The rows the carve kept out of train (the selection split, and in `sentences` mode the phrases
    taken out with it), augmented as train was and labelled by the teacher: what `--refit` adds to the
    chosen recipe's transfer set once every choice is made. Train rows keep their labels."""
    from tfdistil.distil.workdata import write_held_back
    from tfdistil.transfer import label as L
    from tfdistil.transfer.augment import write_augmented
    folder = c.path("refit")
    os.makedirs(folder, exist_ok=True)
    data, rows = write_held_back(o, c.path("data"), os.path.join(folder, "data"))
    from tfdistil.data.splits import label_names
    if list(label_names(data)) != list(c.splits["label_names"]):  # the shards' hard labels are class indices
        raise UserError(f"--refit: the held-back rows have labels {', '.join(label_names(data))}, train has "
                        f"{', '.join(c.splits['label_names'])}; run without --refit")
    files = []
    if o.augment_factor:
        aug = os.path.join(folder, f"augmented_f{o.augment_factor}.tsv")
        first = os.path.join(os.path.dirname(c.result("transfer")["shards"]), f"augmented_f{o.augment_factor}.tsv")
        if not os.path.isfile(aug + ".json"):
            write_augmented(data, o.augment_factor, aug, seed=0, tagger="none", log=log,
                            exclude_from=[first] if os.path.isfile(first) else [])
        files.append(aug)
    labelled, sources = L.transfer_rows(data, files)
    with quiet():
        summary = L.label_shards(c.result("teacher")["dir"], labelled, os.path.join(folder, "shards"), sources,
                                 shard_size=o.shard_size, max_len=o.teacher_max_len, log=log, **engine(o))
    return {"shards": summary["out"], "rows": summary["rows"], "held_back_rows": rows,
            "augmented": summary["rows"] - rows}


def refit(o, c, r, log):
    """Seed `r["seed"]` of the chosen recipe trained again on its transfer set plus the held-back text
    (`refit_text`): same config, same vocabulary, epochs picked on dev; not scored on selection."""
    shards = (r.get("shards") or c.result("transfer")["shards"]) + "+" + c.result("refit-text")["shards"]
    out = train_and_score(o, c, r["name"] + "-refit", r["config"], r["seed"], log, shards=shards, score=False)
    return {**out, "refit_of": {"model": r["model"], "dev_accuracy": r["dev_accuracy"], "selection": r["selection"]}}

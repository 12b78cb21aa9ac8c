"""`tfdistil distil`: labelled text in, a checked model for a target out, chosen without the test set.

One module per job:

    options.py    the settings (a small dataclass; a TOML file can hold every one) and the targets
    workdata.py   the selection split carved from train, and the guard that lets test be read once
    plan.py       the stages, their time estimates, and fitting them to --time-budget
    steps.py      teacher -> logits -> transfer set -> candidates -> seeds (library calls only)
    refit.py      --refit: the chosen recipe's seeds again, with the held-back selection text
    checks.py     the chosen model in every runtime of its target, and the bundle
    report.py     report.md / report.json
    run.py        the driver: stage cache keyed by inputs, resume after a kill, progress with ETA

The selection protocol, enforced here rather than promised: every choice (candidate recipe,
seed; with --lever-seeds N on the mean of N seeds) is made on a stratified selection split
carved from train with a fixed seed; dev only picks each run's best epoch; the test file is
handed to no stage but the last, which reads it once for the chosen recipe's seeds (with
--refit, their refit models) and writes `test_read.json`; a second read is refused.
"""


def distil(log=print, dry_run=False, **settings):
    """Run (or resume) the whole pipeline from Python; `settings` are `DistilOptions` fields, e.g.
    `distil(train="train.csv", test="test.csv", target="cortex-m4", flash="256KB", out="runs/x")`.
    Call it in a fresh process or with TF_USE_LEGACY_KERAS=1 set before TensorFlow is imported:
    the teacher is a Keras 2 model."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from tfdistil.distil.options import make_options
    from tfdistil.distil.run import distil as run
    return run(make_options(settings), log=log, dry_run=dry_run)

"""Every setting of `tfdistil distil` in one dataclass, the targets it knows, and the checks that
refuse bad input in a second, before TensorFlow loads.

A TOML file (`--config distil.toml`) can hold any field; flags given on the command line win.
The report quotes the merged settings, so a result names exactly what made it.
"""
import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field

from tfdistil.config import STUDENTS
from tfdistil.errors import UserError

# A target is what the user ships to. MCU targets name the emulated board that checks them.
TARGETS = {
    "pi": {"kind": "pi", "about": "Raspberry Pi (64-bit OS): LiteRT / tflite-runtime 2.14 via tflite/classify.py"},
    "cortex-m3": {"kind": "mcu", "board": "mps2-an385", "about": "Cortex-M3 (QEMU mps2-an385)"},
    "cortex-m4": {"kind": "mcu", "board": "mps2-an386", "about": "Cortex-M4 (QEMU mps2-an386)"},
    "cortex-m7": {"kind": "mcu", "board": "mps2-an500", "about": "Cortex-M7 (QEMU mps2-an500)"},
    "cortex-m33": {"kind": "mcu", "board": "mps2-an505", "about": "Cortex-M33 (QEMU mps2-an505)"},
    "cortex-m55": {"kind": "mcu", "board": "mps3-an547", "about": "Cortex-M55 with MVE (QEMU mps3-an547)"},
    "stm32f405": {"kind": "mcu", "board": "netduinoplus2", "about": "STM32F405 memory map (QEMU netduinoplus2)"},
}
METRICS = ("auto", "accuracy", "macro_f1")
EMBED_INIT = ("off", "on", "both")
ENGINES = ("local", "ray")
SELECTION_SPLITS = ("auto", "rows", "sentences")
# Settings added after runs existed, at the value that keeps the older behaviour: a stage key
# leaves them out at that value (an older --out stays resumable), and a test-read record made
# before them is compared as if it had them.
ADDED_LATER = {"teacher_limit": 0, "selection_split": "rows"}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(b|k|kb|kib|m|mb|mib)?\s*$", re.I)


def parse_size(text, flag):
    """'256KB', '256K', '64KiB', '1MB', '262144' -> bytes (K = 1024: MCU flash comes in powers of two)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    m = _SIZE.match(str(text))
    if not m:
        raise UserError(f"{flag} {text!r}: not a size; write e.g. 256KB, 1MB or 262144")
    unit = (m.group(2) or "b").lower()
    scale = {"b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}[unit]
    return int(float(m.group(1)) * scale)


@dataclass
class DistilOptions:
    out: str = ""
    # the task: your files (CSV/TSV/JSONL, any labels) or a GLUE folder
    train: str = ""
    dev: str = ""
    test: str = ""
    data: str = ""
    text_column: str = ""
    label_column: str = "label"
    unlabelled: list = field(default_factory=list)   # in-domain text without labels: the teacher labels it
    limit: int = 0                                   # first N train rows (smoke runs, tests)
    # the target and its budget
    target: str = "pi"
    flash: int = 0                                   # bytes for model + C vocabulary (MCU) / model (pi); 0 = none
    ram: int = 0                                     # bytes of RAM the whole firmware may use; 0 = no check
    # teacher
    teacher: str = "minilm"                          # minilm | mpnet | a fine-tuned teacher folder | a checkpoint
    teacher_epochs: int = 3
    teacher_lr: float = 5e-5
    teacher_max_len: int = 128
    teacher_limit: int = 0                           # fine-tune on the first N train rows only (big tasks); 0 = all
    reuse: str = ""                                  # another distil --out: take its teacher, logits and labelled
                                                     # transfer sets where their keys match (read, never written)
    # transfer set
    augment_factor: int = 5                          # synthetic sentences attempted per train text (0 = none)
    compose: int = 0                                 # composed texts ("X , but Y", negations) per train text; 0 = off
    more_transfer: int = 0                           # > 0: also try the best recipe on a second draw of this many
                                                     # augmented texts per train text (the transfer set's size, a lever)
    engine: str = "local"                            # who labels the transfer set: local | ray
    ray_address: str = ""                            # --engine ray: a running cluster (HEAD:6379); "" = start one here
    workers: int = 2                                 # --engine ray: teacher actors
    shard_size: int = 20_000
    # students
    students: list = field(default_factory=lambda: ["cnn", "bilstm_attn"])
    trials: int = 6                                  # Keras Tuner trials per student family
    trial_epochs: int = 3
    epochs: int = 10                                 # each candidate, on the transfer set
    seeds: int = 3                                   # seeds of the chosen recipe (mean +- std reported)
    lever_seeds: int = 1                             # seeds every candidate and lever is weighed on (the mean of
                                                     # their selection scores); 1 = seed 0 alone
    lever_margin: float = 0.0                        # > 0, with lever_seeds > 1: a lever whose seed 0 is more than
                                                     # this many points under the best recipe's vote gets no more
                                                     # seeds (it is out); 0 = every lever on every seed
    keep_margin: float = 0.0                         # > 0: a lever is kept only when its selection score (the
                                                     # vote) beats the best recipe so far by more than this many
                                                     # points; 0 = by any amount
    grow: bool = True                                # also try the best student grown (vocabulary, widths) to fill --flash
    pre_conv: int = 0                                # > 0: also try the best LSTM student with a convolution of
                                                     # this width before its LSTMs (a lever for word order)
    disagree_weight: float = 0.0                     # > 0: also try the best recipe with its soft term weighted
                                                     # 1 + this x teacher-student disagreement (a loss lever)
    kl_temperature: float = 0.0                      # > 0: also try the best recipe with Hinton's KL at this
                                                     # temperature in place of the MSE on logits (a loss lever)
    ema: float = 0.0                                 # > 0: also try the best recipe with Adam's moving average of
                                                     # the weights at this momentum a step (a variance lever)
    soft_alpha: float = -1.0                         # >= 0: also try the best recipe with this alpha (the hard-
                                                     # label share of the loss; the tuner chose it on few rows)
    lr_scale: float = 1.0                            # != 1: also try the best recipe with its learning rate x this
    lr_decay: float = 0.0                            # > 0: also try the best recipe with StepLR gamma = this (the
                                                     # learning rate x this after every epoch; the paper's 0.9)
    embed_init: str = "both"                         # start embeddings from the teacher's: off | on | both (a lever)
    subwords: bool = True                            # students read the teacher's wordpieces
    max_len: int = 64
    # the protocol
    selection_fraction: float = 0.1
    selection_seed: int = 2024
    selection_split: str = "auto"                    # rows | sentences (whole rows; their phrases leave train) |
                                                     # auto (sentences when train is mostly phrases of its rows)
    metric: str = "auto"                             # auto = accuracy for 2 classes, macro-F1 for more
    refit: bool = False                              # after every choice, train the chosen recipe's seeds again
                                                     # with the held-back selection text (it can no longer score them)
    board_limit: int = 100                           # selection texts run on the emulated board
    slices: str = ""                                 # named regexes for the per-slice test table ("" = English
                                                     # negation / contrast; see tfdistil.slices)
    time_budget: float = 0.0                         # minutes; 0 = no limit
    read_test_again: bool = False                    # the only way to read test a second time

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def kind(self):
        return TARGETS[self.target]["kind"]

    @property
    def board(self):
        return TARGETS[self.target].get("board")


def load_toml(path):
    """The settings a TOML file holds (top level, or under [distil])."""
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"--config {path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"--config {path}: not valid TOML ({e})") from None
    d = d.get("distil", d)
    known = {f.name for f in dataclasses.fields(DistilOptions)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise UserError(f"--config {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return {k.replace("-", "_"): v for k, v in d.items()}


def make_options(values):
    """DistilOptions from merged settings, every value checked (one line each, exit 2 upstream)."""
    values = dict(values)
    for name in ("flash", "ram"):
        if name in values and values[name] not in (None, ""):
            values[name] = parse_size(values[name], f"--{name}")
    for name in ("students", "unlabelled"):
        if isinstance(values.get(name), str):
            values[name] = [s for s in re.split(r"[,\s]+", values[name]) if s]
    try:
        o = DistilOptions(**{k: v for k, v in values.items() if v is not None})
    except TypeError as e:
        raise UserError(f"bad setting: {e}") from None
    check(o)
    return o


def _same_file(a, b):
    import filecmp
    return os.path.realpath(a) == os.path.realpath(b) or filecmp.cmp(a, b, shallow=False)


def check(o):
    if not o.out:
        raise UserError("--out is required: the folder distil makes and owns")
    if o.target not in TARGETS:
        raise UserError(f"unknown target {o.target!r}; choose one of {', '.join(TARGETS)}")
    if o.kind == "mcu":
        from tfdistil.edge.mcu.build import BOARDS
        if o.board not in BOARDS:
            raise UserError(f"target {o.target} runs on board {o.board}, which this tfdistil cannot build for "
                            f"(boards: {', '.join(BOARDS)})")
    if bool(o.train) == bool(o.data):
        raise UserError("give your labelled files (--train F [--dev F] [--test F]) or a GLUE folder (--data DIR), not both")
    for flag, path in (("--train", o.train), ("--dev", o.dev), ("--test", o.test), *(("--unlabelled", u) for u in o.unlabelled)):
        if path and not os.path.isfile(path):
            raise UserError(f"{flag} {path}: file not found")
    for flag, path, other, why in (("--test", o.test, "--train", "test must be texts no stage trains on"),
                                   ("--test", o.test, "--dev", "dev picks the epochs, so test must be other texts"),
                                   ("--dev", o.dev, "--train", "dev must be texts the students do not train on; "
                                                              "leave --dev out to carve one from train")):
        twin = o.train if other == "--train" else o.dev
        if path and twin and _same_file(path, twin):
            raise UserError(f"{flag} {path} is the same file as {other}: {why}")
    if o.data and not os.path.isfile(os.path.join(o.data, "train.tsv")):
        raise UserError(f"--data {o.data}: no train.tsv there (a GLUE folder has train.tsv, dev.tsv, test.tsv)")
    bad = [s for s in o.students if s not in STUDENTS]
    if bad or not o.students:
        raise UserError(f"--students: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(STUDENTS)}")
    for name in ("teacher_epochs", "trials", "trial_epochs", "epochs", "seeds", "lever_seeds", "max_len", "shard_size",
                 "board_limit"):
        if getattr(o, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(o, name)}")
    if min(o.augment_factor, o.compose, o.more_transfer, o.limit, o.teacher_limit, o.flash, o.ram, o.time_budget, o.pre_conv,
           o.disagree_weight, o.kl_temperature, o.lever_margin, o.keep_margin) < 0:
        raise UserError("--augment-factor, --compose, --more-transfer, --limit, --teacher-limit, --flash, --ram, --time-budget, "
                        "--pre-conv, --disagree-weight, --kl-temperature, --lever-margin and --keep-margin cannot be negative")
    if o.lever_margin and o.lever_seeds < 2:
        raise UserError(f"--lever-margin {o.lever_margin:g} decides which levers get more seeds: give --lever-seeds 2 or more")
    if o.soft_alpha > 1 or o.lr_scale <= 0:
        raise UserError(f"--soft-alpha is at most 1 (negative = off), got {o.soft_alpha}; --lr-scale must be "
                        f"positive, got {o.lr_scale}")
    if not 0 <= o.ema < 1:
        raise UserError(f"--ema is the weight average's momentum a step, in [0, 1) (0 = off), got {o.ema}")
    if not 0 <= o.lr_decay <= 1:
        raise UserError(f"--lr-decay is the learning rate's factor per epoch, in (0, 1] (0 = off), got {o.lr_decay}")
    if o.selection_split not in SELECTION_SPLITS:
        raise UserError(f"--selection-split is one of {', '.join(SELECTION_SPLITS)}, got {o.selection_split!r}")
    if not 0 < o.selection_fraction < 0.5:
        raise UserError(f"--selection-fraction must be in (0, 0.5), got {o.selection_fraction}")
    if o.metric not in METRICS or o.embed_init not in EMBED_INIT or o.engine not in ENGINES:
        raise UserError(f"--metric is one of {', '.join(METRICS)}; --embed-init one of {', '.join(EMBED_INIT)}; "
                        f"--engine one of {', '.join(ENGINES)}")
    if o.engine == "ray":
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise UserError("--engine ray needs Ray: pip install -e '.[ray]'")
        if o.workers < 1:
            raise UserError(f"--workers must be at least 1, got {o.workers}")
    if o.reuse:
        from tfdistil.files import is_ours
        if not os.path.isdir(os.path.join(o.reuse, "stages")) or not is_ours(o.reuse):
            raise UserError(f"--reuse {o.reuse}: not a folder `tfdistil distil` made (no stages/ and .tfdistil mark in it)")
        if os.path.realpath(o.reuse) == os.path.realpath(o.out):
            raise UserError("--reuse names --out itself; a run already resumes from its own --out")
    if o.slices:
        from tfdistil.slices import load_slices
        load_slices(o.slices)  # a bad file: one line now, not after hours of training
    if o.kind == "mcu" and not o.flash:
        raise UserError(f"target {o.target}: give --flash (bytes for the model + C vocabulary, e.g. 256KB)")


# Options that cannot change which model is chosen or what test measures: where and how fast the work
# runs, and the checks beside it. Any other option changed after test was read needs a second read.
NOT_CHOICES = ("out", "engine", "ray_address", "workers", "board_limit", "ram", "time_budget", "read_test_again",
               "slices", "reuse")


def choice_options(o):
    """The options the test read depends on, as recorded in test_read.json (JSON types)."""
    return {k: v for k, v in json.loads(json.dumps(o.to_dict(), default=str)).items() if k not in NOT_CHOICES}


def changed_since_test_read(o, record):
    """The choice-making options that differ from those of the recorded test read ([] when none, or
    when the record predates this check), so a run that would need a second read stops before any work."""
    if not os.path.isfile(record):
        return []
    with open(record, encoding="utf-8") as f:
        before = json.load(f).get("choice")
    if before is None:
        return []
    now = choice_options(o)
    # an option added to tfdistil after that read was, then, at its default (which keeps the old behaviour)
    defaults = {f.name: f.default for f in dataclasses.fields(DistilOptions) if f.default is not dataclasses.MISSING}
    defaults.update(ADDED_LATER)
    return sorted(k for k in set(before) | set(now) if before.get(k, defaults.get(k)) != now.get(k))

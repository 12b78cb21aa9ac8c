"""The stages of `distil`, what each is estimated to cost, and the cuts that fit them to --time-budget.

Estimates come from rows x epochs x a per-row cost measured on this project's reference machine
(2 CPU cores; `../shared/notes/toolchain.md`: MiniLM forward 0.19 s per 32 x 32 tokens, CNN 11.5 s
and BiLSTM 40.8 s per SST-2 epoch), scaled by the task's mean text length and the teacher's size.
They are estimates, and the driver says so; what each stage really took is in the report.
"""
import json
import os
import re

from tfdistil.errors import UserError

SST2_WORDS = 9.4                     # mean words per SST-2 train row, the length the costs below were measured at
TEACHER_FORWARD = 0.006              # s per row, MiniLM-L6, SST-2 lengths
TEACHER_TRAIN = 3 * TEACHER_FORWARD  # a training step is ~3x a forward pass
STUDENT_ROW = {"cnn": 1.7e-4, "bilstm": 6.1e-4, "bilstm_attn": 7.5e-4}   # s per row-epoch
MINILM_SIZE = 6 * 384 ** 2
FIXED = {"splits": 5, "convert": 25, "checks_pi": 90, "checks_mcu": 240, "board_text": 1.0, "report": 2,
         "score": 2.0}  # score: s per 1,000 selection rows, one int8 model on the host


# Teacher cost grows faster than layers x hidden^2 when it trains (AdamW over every weight, backward
# through every layer) and slower when it only reads (batched matmuls amortise): measured on the
# reference machine, MPNet-base (8x MiniLM-L6's layers x hidden^2) trained 21.5x and read 3.2x slower
# per row (results/distil/sst2-cortex-m4/teacher-stage-seconds.json: teacher 7,755 s for 20,000 rows;
# logits 1,226 s for 68,221 rows; transfer 8,076 s for 386,846 rows). A power law through (1, 1) and (8, those) scales
# any other teacher by its size.
TRAIN_EXPONENT, FORWARD_EXPONENT = 1.475, 0.559   # ln 21.5 / ln 8, ln 3.2 / ln 8


def teacher_size(teacher):
    """Teacher layers x hidden^2 relative to MiniLM-L6."""
    if teacher == "minilm":
        return 1.0
    if teacher == "mpnet":
        return 12 * 768 ** 2 / MINILM_SIZE
    path = os.path.join(teacher, "config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        return max(cfg.get("num_hidden_layers", 12) * cfg.get("hidden_size", 768) ** 2 / MINILM_SIZE, 0.01)
    return 12 * 768 ** 2 / MINILM_SIZE  # a hub name: assume BERT-base


def teacher_scale(teacher):
    """(training, reading) cost per row relative to MiniLM-L6."""
    size = teacher_size(teacher)
    return size ** TRAIN_EXPONENT, size ** FORWARD_EXPONENT


def task_shape(o):
    """(train rows, mean words per row, unlabelled rows) read cheaply, before anything trains."""
    from tfdistil.data.splits import TaskFiles, load_split
    from tfdistil.data.tokenizer import split_words
    data = TaskFiles(o.train, o.dev or None, None, o.text_column or None, o.label_column) if o.train else o.data
    train = load_split(data, "train", o.limit or None)
    words = [len(split_words(s)) for s in train.sentences]
    unlabelled = 0
    for path in o.unlabelled:
        with open(path, encoding="utf-8") as f:
            unlabelled += sum(1 for line in f if line.strip())
    return train, sum(words) / max(len(words), 1), unlabelled


def estimate(o, rows, mean_words, unlabelled):
    """[(stage, seconds)] for these options (candidates and seeds counted as they will be)."""
    length = max(min(mean_words, o.max_len) / SST2_WORDS, 0.3)
    t_len = max(min(mean_words * 1.3, o.teacher_max_len) / (SST2_WORDS * 1.3), 0.3)
    train_scale, scale = teacher_scale(o.teacher)
    train_rows = rows * (1 - o.selection_fraction)
    transfer_rows = train_rows * (1 + 0.9 * o.augment_factor) + unlabelled
    finetuned = os.path.isfile(os.path.join(o.teacher, "teacher_meta.json"))
    plan = [("splits", FIXED["splits"]),
            ("teacher", 0 if finetuned else min(train_rows, o.teacher_limit or train_rows) * o.teacher_epochs * TEACHER_TRAIN * train_scale * t_len),
            ("logits", rows * TEACHER_FORWARD * scale * t_len),
            ("transfer", (transfer_rows - train_rows) * TEACHER_FORWARD * scale * t_len)]
    for family in o.students:
        per_epoch = train_rows * STUDENT_ROW[family] * length
        plan.append((f"search-{family}", per_epoch * o.trial_epochs * (o.trials + 1) + 2 * FIXED["convert"]))
    inits = {"off": [""], "on": ["-ei"], "both": ["", "-ei"]}[o.embed_init]  # named as steps.candidate_configs names them
    worst = max(STUDENT_ROW[f] for f in o.students)
    cand = transfer_rows * worst * length * o.epochs + FIXED["convert"]
    plan += [(f"candidate-{f}{ei}", transfer_rows * STUDENT_ROW[f] * length * o.epochs + FIXED["convert"])
             for f in o.students for ei in inits]
    if o.grow and o.flash:  # each family's best grown (named as `planned` names them)
        plan += [(f"candidate-{f}{g}", cand * 1.3) for f in o.students for g in ("-vocab", "-grown")]
    if o.soft_alpha >= 0:
        plan.append(("candidate-soft", cand))
    if o.lr_scale != 1:
        plan.append(("candidate-lr", cand))
    if o.lr_decay:
        plan.append(("candidate-decay", cand))
    if o.pre_conv and any(f != "cnn" for f in o.students):
        plan.append(("candidate-preconv", cand * 1.1))
    if o.disagree_weight:
        plan.append(("candidate-disagree", cand))
    if o.kl_temperature:
        plan.append(("candidate-kl", cand))
    if o.ema:
        plan.append(("candidate-ema", cand))
    if o.more_transfer:
        more = train_rows * 0.9 * o.more_transfer
        plan += [("more", more * TEACHER_FORWARD * scale * t_len),
                 ("candidate-more", (transfer_rows + more) * worst * length * o.epochs + FIXED["convert"])]
    if o.compose:
        composed = train_rows * o.compose
        plan += [("composed", composed * TEACHER_FORWARD * scale * t_len),
                 ("candidate-composed", (transfer_rows + composed) * worst * length * o.epochs + FIXED["convert"])]
    if o.lever_seeds > 1:  # every candidate and lever on N seeds; the chosen recipe's first N come with it
        plan = [e for n, sec in plan for e in [(n, sec)] + ([(f"{n}-s{s}", sec) for s in range(1, o.lever_seeds)]
                                                            if n.startswith("candidate-") else [])]
    plan += [(f"seed-{s}", cand) for s in range(max(1, o.lever_seeds), o.seeds)]
    if o.refit:  # the held-back rows (sentences mode takes their phrases too: about twice the rows) back in
        back = rows * o.selection_fraction * (2 if o.selection_split == "sentences" else 1)
        plan.append(("refit-text", back * (1 + 0.9 * o.augment_factor) * TEACHER_FORWARD * scale * t_len))
        plan += [(f"refit-{s}", cand * (1 + back / max(transfer_rows, 1))) for s in range(o.seeds)]
    models = sum(1 for n, _ in plan if n.startswith(("candidate-", "seed-")))
    plan.append(("selection-slices", models * FIXED["score"] * rows * o.selection_fraction / 1000))
    board = FIXED["checks_mcu"] + o.board_limit * FIXED["board_text"] * length if o.kind == "mcu" else FIXED["checks_pi"]
    plan += [("checks", board), ("test", 10 * o.seeds), ("bundle", 10), ("report", FIXED["report"])]
    return plan


# Applied in order until the plan fits. The levers go first, the least established first (on the
# selection splits of the fortunes and SST-2 runs so far none of them paid reliably); the transfer
# set and a student grown to the flash the user gave come later: more teacher-labelled text is what
# Tang et al. and every run here gained from, and the grown student gave +0.9 on selection in
# results/distil/sst2-cortex-m4 (not in the sst2-*-budget runs, where the vocabulary was the limit).
CUTS = (  # (what is cut, option, how, floor)
    ("tuner trials", "trials", lambda v: max(2, v // 2), 2),
    ("the refit with the held-back text", "refit", lambda v: False, False),
    ("the composed-text lever", "compose", lambda v: 0, 0),
    ("the weight-average lever", "ema", lambda v: 0.0, 0.0),
    ("the larger-transfer-set lever", "more_transfer", lambda v: 0, 0),
    ("the convolution-before-the-LSTMs lever", "pre_conv", lambda v: 0, 0),
    ("the disagreement-weighted loss lever", "disagree_weight", lambda v: 0.0, 0.0),
    ("the KL-at-a-temperature loss lever", "kl_temperature", lambda v: 0.0, 0.0),
    ("the learning-rate decay lever", "lr_decay", lambda v: 0.0, 0.0),
    ("the soft-loss lever", "soft_alpha", lambda v: -1.0, -1.0),
    ("the learning-rate lever", "lr_scale", lambda v: 1.0, 1.0),
    ("seeds each candidate is weighed on", "lever_seeds", lambda v: 1, 1),
    ("teacher-started embeddings tried both ways", "embed_init", lambda v: "on" if v == "both" else v, "on"),
    ("transfer set (augmentation factor)", "augment_factor", lambda v: v // 2, 0),
    ("the best student grown to fill the budget (vocabulary, widths)", "grow", lambda v: False, False),
    ("candidate epochs", "epochs", lambda v: max(3, v * 2 // 3), 3),
    ("tuner epochs per trial", "trial_epochs", lambda v: max(1, v - 1), 1),
    ("seeds of the chosen recipe", "seeds", lambda v: max(2, v - 1), 2),
    ("teacher epochs", "teacher_epochs", lambda v: max(1, v - 1), 1),
)


READING_STAGES = ("logits", "transfer", "composed", "more", "refit-text")


def kind(name):
    """Speed is measured per kind of work, each estimated from its own calibration: the teacher
    training, the teacher reading (logits, labelling) and the students (small Keras models, their
    conversion and checks). In one session they ran at 0.16, 0.66 and 0.65 of their estimates
    (results/distil/sst2-cortex-m4-budget/run.log, the restart line)."""
    name = planned(name)
    if name in ("splits", "selection-slices"):  # mostly reading saved labels: their pace says nothing of training
        return "bookkeeping"
    return "teacher" if name == "teacher" else "reading" if name in READING_STAGES else "student"


def measured_speed(*folders):
    """({kind: actual / estimated seconds}, stages) over the stages that ran in these run folders
    (--out, and --reuse DIR, whose files must be on this machine; a reused record did not run where
    it sits and is skipped); a kind with under 5 minutes of estimates behind it is left out (read as 1)."""
    spent, estimated, n = {}, {}, 0
    for out in folders:
        folder = os.path.join(out, "stages") if out else ""
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    saved = json.load(f)
            except (OSError, ValueError):
                continue
            if not isinstance(saved, dict) or saved.get("reused_from") or not saved.get("seconds") \
                    or not saved.get("estimated_seconds"):
                continue
            k = kind(name[:-len(".json")])
            spent[k] = spent.get(k, 0.0) + saved["seconds"]
            estimated[k] = estimated.get(k, 0.0) + saved["estimated_seconds"]
            n += 1
    speed = {k: spent[k] / estimated[k] for k in spent if estimated[k] >= 300}
    return speed, (n if speed else 0)


def speed_note(speed, stages, folders, budget):
    """The line a plan prints when it is scaled by measured speed ("" when it is not)."""
    if not stages:
        return ""
    ratios = ", ".join(f"{k} stages x {v:.2f}" for k, v in sorted(speed.items()))
    return (f"  estimates at this machine's measured speed ({ratios}; from the {stages} stages run in "
            f"{' and '.join(folders)}){', --time-budget fitted at it' if budget else ''}")


def scaled(plan, speed):
    """The plan's estimates at the measured speed of each kind of work."""
    return [(name, sec * speed.get(kind(name), 1.0)) for name, sec in plan]


def fit_to_budget(o, shape, done=None, speed=None):
    """Cut the plan (in CUTS order) until its estimate fits `o.time_budget` minutes; say what was cut.

    `done(o)` names the stages already made for these options (a resumed run: they cost nothing),
    and `speed` scales the estimates by kind of work (`measured_speed`), so a run resumed with a budget is fitted to
    what is left on this machine. A cut that would not shorten what is left is not made, and cuts that
    undo work already done (fewer tuner trials once the search ran, a smaller transfer set once it is
    labelled) come only after every other cut. Cuts that fit again once later ones are made are given
    back, unless that would redo work already done. Refuses a budget smaller than one teacher epoch, or than the smallest plan."""
    if not o.time_budget:
        return o, []
    budget = o.time_budget * 60
    rows, words, unlabelled = shape
    done, speed = done or (lambda _o: {}), speed or {}
    one_epoch = dict(scaled(estimate(o, rows, words, unlabelled), speed))["teacher"] / max(o.teacher_epochs, 1)
    if "teacher" not in done(o) and one_epoch > budget:
        raise UserError(f"--time-budget {o.time_budget:g} min is too small for one teacher epoch "
                        f"(about {one_epoch / 60:.1f} min here); give more time or a fine-tuned --teacher")
    cuts = []

    def total():
        skip = done(o)
        return sum(s for n, s in scaled(estimate(o, rows, words, unlabelled), speed) if n not in skip)

    for keep_done in (True, False):  # first only cuts that keep the work already done
        for what, name, cut, floor in CUTS:
            while total() > budget and getattr(o, name) != floor:
                before, was, made = getattr(o, name), total(), set(done(o))
                setattr(o, name, cut(before))
                if getattr(o, name) == before:
                    break
                if total() >= was or (keep_done and not made <= set(done(o))):
                    setattr(o, name, before)
                    break
                cuts.append((what, name, before, getattr(o, name)))
    # A later cut can make room for an earlier one (a smaller transfer set that another run already
    # labelled costs nothing): give back what fits again, the most valuable (latest in CUTS) first.
    for step in reversed(list(cuts)):
        what, name, before, after = step
        if getattr(o, name) == after:
            made = set(done(o))
            setattr(o, name, before)
            if total() > budget or not made <= set(done(o)):  # too long, or it would redo done work
                setattr(o, name, after)
            else:
                cuts.remove(step)
    cuts = [f"{what}: {before} -> {after}" for what, _, before, after in cuts]
    if total() > budget:
        raise UserError(f"--time-budget {o.time_budget:g} min: even the smallest plan needs about {total() / 60:.0f} min "
                        "(fewer rows with --limit, or more time)")
    return o, cuts


def check_budget(o, train):
    """A flash budget no student can meet fails now, naming the smallest student that would fit."""
    if not o.flash:
        return
    from tfdistil.config import Config
    from tfdistil.data.tokenizer import split_words
    from tfdistil.search.space import KB, search_space, smallest_config
    distinct = len({w for s in train.sentences for w in split_words(s)})
    best = None
    for family in o.students:
        space = search_space(family, True, {"max_len": [o.max_len]})
        sizes = {cap: min(cap, distinct) + 2 for cap in space["max_vocab"]}
        vocab_flash = {cap: 4 * n for cap, n in sizes.items()} if o.kind == "mcu" else None
        base = Config(student=family, distill=True, num_classes=max(len(train.label_names), 2))
        cfg, size = smallest_config(base, space, sizes, vocab_flash)
        if best is None or size < best[1]:
            best = (cfg, size)
    if best[1] > o.flash:
        what = "model + C vocabulary" if o.kind == "mcu" else "model"
        raise UserError(f"--flash {o.flash / KB:g} KB: no student fits; the smallest, a {best[0].student} with "
                        f"{best[0].max_vocab} words, embedding {best[0].embed_dim}, hidden {best[0].hidden}, needs about "
                        f"{best[1] / KB:.0f} KB ({what})")


def describe(plan, cuts=(), done=None):
    said = {"cached": "  (done before)", "reused": "  (from --reuse)", "not needed": "  (not needed)"}
    w = max([22] + [len(name) for name, _ in plan])
    lines = [f"  {name:<{w}} ~{sec / 60:6.1f} min{said.get((done or {}).get(name), '')}" for name, sec in plan]
    total = sum(s for _, s in plan)
    lines.append(f"  {'total':<{w}} ~{total / 60:6.1f} min (estimates for 2 CPU cores)")
    lines += [f"  cut to fit --time-budget: {c}" for c in cuts]
    return "\n".join(lines)


LEVERS = ("-vocab", "-grown", "-soft", "-lr", "-decay", "-preconv", "-disagree", "-kl", "-ema", "-more", "-composed")


def planned(name):
    """The plan's name for a stage: a lever's stage is named after the recipe it grows from
    ("candidate-bilstm_attn-ei-disagree"), which the plan cannot know before the candidates ran, so
    the plan names the lever alone ("candidate-disagree"); the grow levers, tried on each family's
    best, keep the family ("candidate-bilstm_attn-ei-vocab" -> "candidate-bilstm_attn-vocab"). A
    --lever-seeds seed keeps its "-sK" ("candidate-bilstm_attn-ei-grown-s1" -> "candidate-bilstm_attn-grown-s1")."""
    if name.startswith("candidate-"):
        m = re.match(r"^(.*?)(-s[0-9]+)?$", name)
        base, seed = m.group(1), m.group(2) or ""
        for lever in LEVERS:
            if base.endswith(lever):
                family = base[len("candidate-"):].split("-")[0] + "-" if lever in ("-vocab", "-grown") else ""
                return "candidate-" + family + lever[1:] + seed
    return name


class Clock:
    """The ETA `distil` prints before each stage: the plan's estimates scaled, per kind of work
    (`kind`), by how fast this machine has been so far (actual / estimated seconds of the stages run
    on it). A stage found cached on resume teaches speed only through the seconds it took when it ran
    (saved beside its result); counting its estimate with no seconds beside it once made a resumed
    run's ETA collapse to ~0. One ratio for all stages once promised a run's logits in 3.4 min (they
    took 15.7) because its teacher had trained at 0.16 of its estimate."""

    def __init__(self, estimates, done=(), speed=None):
        """`done`: stages known before the run starts to be cached or reused (`run.done_before`); the
        ETA of the first stage, which may come before them, leaves them out of what remains.
        `speed`: `measured_speed` of the run folders, used for a kind of work until this run has
        timed some of it (a --reuse run's first ETA once said 21:54 for a plan of 30 minutes)."""
        self.estimates, self.spent, self.estimated_done = dict(estimates), {}, {}
        self.finished, self.prior = {planned(n) for n in done}, dict(speed or {})

    def _ran(self, name, seconds):
        if name not in self.estimates:  # nothing to compare with: a 60 s guess would skew every later ETA
            return
        k = kind(name)
        self.spent[k] = self.spent.get(k, 0.0) + seconds
        self.estimated_done[k] = self.estimated_done.get(k, 0.0) + self.estimates.get(name, 60)

    def speed(self, name):
        k = kind(name)
        return self.spent[k] / self.estimated_done[k] if self.estimated_done.get(k, 0) > 60 else self.prior.get(k, 1.0)

    def cached(self, name, seconds=0.0):
        """A stage found done; `seconds` is what it took when it ran (0 if not recorded). Its cache
        key matched, so it ran with these inputs and this plan's estimate is the one to compare."""
        name = planned(name)
        self.finished.add(name)
        if seconds:  # measured when it ran: as good a speed sample as a stage run now
            self._ran(name, seconds)

    def start(self, name, now):
        """(this stage's minutes, "HH:MM" when everything should be done)."""
        import time
        name = planned(name)
        remaining = sum(v * self.speed(k) for k, v in self.estimates.items() if k not in self.finished)
        eta = time.strftime("%H:%M", time.localtime(now + remaining))
        return self.estimates.get(name, 60) * self.speed(name) / 60, eta

    def done(self, name, seconds):
        name = planned(name)
        self.finished.add(name)
        self._ran(name, seconds)

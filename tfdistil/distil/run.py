"""The `distil` driver: run the stages in order, each cached under --out keyed by its inputs.

A stage's result is written to `OUT/stages/NAME.json` (atomically) with the key it was made
with: the options it reads and the results it builds on. Run the command again, or after a kill
at any moment, and every stage whose key still matches is skipped; the one that was running
resumes from its library's own checkpoints. Folders a stage writes carry its key, so a changed
option never mixes with an older output.
"""
import json
import os
import time

from tfdistil.distil import checks as K
from tfdistil.distil import grow as G
from tfdistil.distil import plan as P
from tfdistil.distil import records as D
from tfdistil.distil import refit as R
from tfdistil.distil import steps as S
from tfdistil.distil.workdata import TestGuard, carve, selection_data, selection_split, work_data
from tfdistil.distil.options import changed_since_test_read
from tfdistil.errors import UserError
from tfdistil.files import atomic_write_json, is_ours, mark, MARKER


def claim(out):
    """--out must be new, empty, or a distil folder tfdistil made (then the run resumes)."""
    from tfdistil.files import check_writable, _forbidden
    if _forbidden(out):
        raise UserError(f"--out {out}: refusing to write into the working folder, a parent of it, ~ or /")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out}: is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out):
        try:
            with open(os.path.join(out, MARKER), encoding="utf-8") as f:
                kind = json.load(f).get("kind")
        except (OSError, ValueError):
            kind = None
        if not is_ours(out) or kind != "distil":
            raise UserError(f"--out {out}: folder exists and was not made by `tfdistil distil`; choose another --out")
        return
    check_writable(out, "--out", folder=True)


class Context:
    scores_leads = True  # a lever's lead over its recipe gets its paired interval (a dry walk's does not)

    def __init__(self, o, log):
        self.o, self.log, self.out = o, log, o.out
        self.results, self.keys, self.seconds, self.reused = {}, {}, {}, []

    def path(self, *parts):
        return os.path.join(self.out, *parts)

    def result(self, name):
        return self.results[name]

    @property
    def splits(self):
        return self.results["splits"]

    @property
    def work(self):
        return work_data(self.path("data"))

    @property
    def selection(self):
        return selection_data(self.path("data"))


def _carved(folder):
    """The splits record of a distil folder that already carved (None if it has not)."""
    try:
        with open(os.path.join(folder, "stages", "splits.json"), encoding="utf-8") as f:
            return json.load(f)["result"]
    except (OSError, ValueError, KeyError):
        return None


class _Looking(Context):
    """A dry walk's context. With no data carved in --out yet, what reads it (the grown lever's
    vocabularies) reads --reuse DIR's, when DIR's split has this run's key (the same rows); else
    it is not known either."""
    scores_leads = False

    def path(self, *parts):
        splits = self.results.get("splits")
        if parts[:1] == ("data",) and self.o.reuse and splits is not None and not isinstance(splits, D.Pending) \
                and not os.path.isdir(super().path("data")):
            return os.path.join(self.o.reuse, *parts)
        return super().path(*parts)

    def _carved(self):
        if not os.path.isdir(self.path("data")):
            raise D.Unknown("splits")

    @property
    def work(self):
        self._carved()
        return super().work

    @property
    def selection(self):
        self._carved()
        return super().selection


def done_before(o, planned_names=()):
    """{stage (as the plan names it): "cached" | "reused"} for the stages whose records already match,
    in --out (a resumed run) or in --reuse DIR: the same walk as the run's, looking records up only,
    as far as the results found allow (a lever's stage is known once every candidate before it is).
    The plan shows them at 0 minutes, so a dry run, a --time-budget and the first ETA count what is
    left, not what the whole run costs (the SST-2 seeds run half-way: 7 stages marked done before, 23 now;
    experiments/protocol/logs/dry_run_walk.log).
    When the walk reaches the end, the stages of `planned_names` it never met are "not needed" (a lever
    whose recipe already has that setting, a family with no room to grow)."""
    done, c = {}, _Looking(o, lambda *a: None)
    probe = D.probe(o, c, done)
    try:
        _walk(o, c, probe)
        complete = True
    except D.Unknown:  # which recipe won is not known yet; the teacher's text for the levers may be
        complete = False
        for name, make, wanted in (("more", _more, o.more_transfer), ("composed", _composed, o.compose),
                                   ("refit-text", _refit_text, o.refit)):
            if wanted and name not in c.keys and "transfer" in c.keys:
                make(o, c, probe)
    marks = {P.planned(n): how for n, how in done.items()}
    if complete:
        met = {P.planned(n) for n in c.keys}
        marks.update({n: "not needed" for n in planned_names if n not in met and n != "report"})
    return marks


def distil(o, log=print, dry_run=False):
    """Run (or resume) the whole pipeline; return the report's summary. See the package doc."""
    claim(o.out)
    own, reused = _carved(o.out), (_carved(o.reuse) if o.reuse else None)
    o.selection_split, why = selection_split(o, own or reused, "this run" if own else f"--reuse {o.reuse}")
    train, words, unlabelled = P.task_shape(o)
    P.check_budget(o, train)
    speed, sped = P.measured_speed(o.out, o.reuse)  # how fast this machine has been, for what is left
    o, cuts = P.fit_to_budget(o, (len(train), words, unlabelled), done_before, speed)
    fitted = P.speed_note(speed, sped, [f for f in (o.out, o.reuse) if f and os.path.isdir(os.path.join(f, "stages"))],
                          bool(o.time_budget))
    plan = P.estimate(o, len(train), words, unlabelled)
    changed = changed_since_test_read(o, os.path.join(o.out, "test_read.json"))
    if changed and not o.read_test_again:  # say so now, not after the changed stages have trained
        raise UserError(f"test was already read once in {o.out}; the protocol allows one read, and "
                        f"{', '.join('--' + k.replace('_', '-') for k in changed)} changed since. Start a new --out, "
                        "or pass --read-test-again (the report will say so)")
    done = done_before(o, [n for n, _ in plan])
    left = [(n, 0 if n in done else s) for n, s in P.scaled(plan, speed)]
    if dry_run:
        return {"plan": [{"stage": n, "estimated_minutes": round(s / 60, 1), **({"done": done[n]} if n in done else {})}
                         for n, s in left],
                "estimated_minutes": round(sum(s for _, s in left) / 60, 1), "cuts": cuts,
                "selection_split": {"mode": o.selection_split, "why": why},
                "text": P.describe(left, cuts, done) + ("\n" + fitted if fitted else "")
                + (f"\n  levers out by --lever-margin {o.lever_margin:g} skip their other seeds: the total is the most "
                   "this plan takes" if o.lever_margin else "")}
    os.makedirs(o.out, exist_ok=True)
    mark(o.out, "distil")
    log(f"distil -> {o.out}: {len(plan)} stages, about {sum(s for _, s in left) / 60:.0f} min of work left (estimate)")
    log(f"  selection split: {'whole sentences (their phrases leave train)' if o.selection_split == 'sentences' else 'rows'}"
        f" ({why})")
    if fitted:
        log(fitted)
    for c in cuts:
        log(f"  cut to fit --time-budget: {c}")
    c = Context(o, log)
    estimates = dict(plan)
    clock = P.Clock(plan, done, speed)

    def stage(name, group, deps, fn):
        key = D.key(o, group, deps)
        path = c.path("stages", f"{name}.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            if saved.get("key") == key:
                c.results[name], c.keys[name], c.seconds[name] = saved["result"], key, saved.get("seconds", 0)
                if saved.get("reused_from"):
                    c.reused.append(name)
                clock.cached(name, saved.get("seconds", 0))
                log(f"[{name}] done before (cached)")
                return saved["result"]
        if o.reuse and group in D.REUSABLE:
            found = D.reused(o, name, key)
            if found is not None:
                atomic_write_json(path, found)
                c.results[name], c.keys[name], c.seconds[name] = found["result"], key, 0
                c.reused.append(name)
                clock.cached(name)
                log(f"[{name}] reused from {o.reuse} (same settings and data)")
                return found["result"]
        est = estimates.get(P.planned(name), 60)
        minutes, eta = clock.start(name, time.time())
        log(f"[{name}] starting: ~{minutes:.1f} min; everything done by ~{eta} (estimate)")
        t0 = time.time()
        c.keys[name] = key
        result = fn()
        seconds = round(time.time() - t0, 1)
        atomic_write_json(path, {"key": key, "result": result, "seconds": seconds, "estimated_seconds": round(est)})
        c.results[name], c.seconds[name] = result, seconds
        clock.done(name, seconds)
        log(f"[{name}] done in {seconds / 60:.1f} min")
        return result

    os.makedirs(c.path("stages"), exist_ok=True)
    candidates, seeds, chosen, metric, checks, test, bundle, slices, shipped_seeds = _walk(o, c, stage)
    from tfdistil.distil.report import write_report
    summary = write_report(o, c, candidates, seeds, chosen, metric, checks, test, bundle, cuts, estimates, slices,
                           refits=shipped_seeds)
    log(f"report: {c.path('report.md')}")
    return summary


def _walk(o, c, stage):
    """Every stage in order, through `stage(name, group, deps, fn)`: the run's (which runs `fn` when
    no record matches) or a dry run's `records.probe` (which only looks records up)."""
    log = c.log
    stage("splits", "splits", {}, lambda: carve(o, c.path("data")))
    stage("teacher", "teacher", [c.keys["splits"]], lambda: S.teacher(o, c, log))
    stage("logits", "logits", [c.keys["teacher"]], lambda: S.logits(o, c, log))
    stage("transfer", "transfer", [c.keys["logits"]], lambda: S.transfer(o, c, log))
    for family in o.students:
        stage(f"search-{family}", "search", [c.keys["logits"], family], lambda f=family: S.search(o, c, f, log))
    metric = S.metric_name(o, c)
    candidates, more_seeds = [], {}

    def trained(name, config, deps, shards=None, against=None):
        """Seed 0 of a candidate (`deps` ends with the seed), and with --lever-seeds N seeds 1..N-1 as
        stages `candidate-NAME-sK`; with N > 1 it carries their mean as its "vote", which choices use.
        With --lever-margin M, a lever whose seed 0 is more than M points under `against` (the best
        recipe's vote) stops at seed 0: to win, its other seeds would have to beat the incumbent's by
        about M x (N / (N - 1)) on average, which one seed's spread rarely allows."""
        runs = [stage(f"candidate-{name}", "candidate", deps,
                      lambda: S.train_and_score(o, c, name, config, 0, log, shards=shards))]
        if isinstance(runs[0], D.Pending):  # a dry run's: not done, so its seeds and score are not known;
            return runs[0]  # the next candidate's are (a choice reads this one, and stops the walk there)
        out = bool(against and o.lever_margin
                   and 100 * (S.vote(against, metric) - runs[0]["selection"][metric]) > o.lever_margin)
        for s in range(1, 1 if out else o.lever_seeds):  # keyed as its `seed-K` stage would be, should it win
            runs.append(stage(f"candidate-{name}-s{s}", "candidate", seed_deps(runs[0], s),
                              lambda s=s: S.train_and_score(o, c, name, config, s, log, shards=shards)))
        more_seeds[name] = [(f"candidate-{name}-s{s}", r) for s, r in enumerate(runs[1:], 1)]
        if o.lever_seeds == 1 or isinstance(runs[-1], D.Pending):
            return runs[-1] if isinstance(runs[-1], D.Pending) else runs[0]
        if out:
            log(f"[candidate-{name}] out by --lever-margin {o.lever_margin:g}: no more seeds")
        return {**runs[0], "vote": S.mean_std([r["selection"][metric] for r in runs]),
                **({"lever_margin_out": o.lever_margin} if out else {})}

    def seed_runs(r):  # a recipe's scored seeds: seed 0, then those --lever-seeds trained
        return [r] + [x for _, x in more_seeds.get(r["name"], [])]

    def seed_deps(r, seed):
        own_set = r["name"].endswith(("-composed", "-more"))
        return [c.keys["transfer"], r["config"], seed] + ([r["shards"]] if own_set else [])

    searched = [f for f in o.students if not isinstance(c.result(f"search-{f}"), D.Pending)]  # all, but in a dry run
    for name, config in S.candidate_configs(o, c, searched):
        candidates.append(trained(name, config, [c.keys["transfer"], config, 0]))
    if searched != o.students:
        raise D.Unknown("search")
    best = S.best_of(candidates, metric)
    first = f"candidate-{best['name']}"
    def weigh(name, config, deps, shards=None):
        """One lever on the best recipe so far: train it, keep it if the selection split prefers it (by more
        than --keep-margin, when given), and note its lead with the split's paired interval."""
        nonlocal best, first
        lever = trained(name, config, deps, shards, against=best)
        if c.scores_leads and not isinstance(lever, D.Pending):  # is its lead more than the split's noise?
            lever = {**lever, "against": best["name"],
                     "lead": S.lever_lead(c, seed_runs(lever), seed_runs(best), metric)}
        candidates.append(lever)
        if S.best_of([best, lever], metric) is lever:
            gain = 100 * (S.vote(lever, metric) - S.vote(best, metric))
            if o.keep_margin and gain <= o.keep_margin:  # a lead inside the split's noise leaves the chain
                log(f"[candidate-{name}] {gain:+.2f} over the best so far, not more than --keep-margin "
                    f"{o.keep_margin:g}: not kept")
                return
            best, first = lever, f"candidate-{name}"

    if o.grow:  # each family's best grown to fill the budget: more vocabulary first, then wider. Every
        for family in o.students:  # family, not the best alone: the tuner ranks small students, and growing
            for suffix, vocabulary in (("-vocab", True), ("-grown", False)):  # can reorder them
                own = [r for r in candidates if r["student"] == family and r["fits"]]
                grown = G.grown_config(o, c, S.best_of(own, metric), vocabulary=vocabulary) if own else None
                if grown:
                    weigh(S.best_of(own, metric)["name"] + suffix, grown, [c.keys["transfer"], grown, 0])
    if o.soft_alpha >= 0 and best["config"]["alpha"] != o.soft_alpha:  # lean on the teacher's logits
        soft = {**best["config"], "alpha": o.soft_alpha}
        weigh(best["name"] + "-soft", soft, [c.keys["transfer"], soft, 0])
    if o.lr_scale != 1:  # the tuner's learning rate, chosen for few rows and epochs, scaled
        slow = {**best["config"], "lr": round(best["config"]["lr"] * o.lr_scale, 8)}
        weigh(best["name"] + "-lr", slow, [c.keys["transfer"], slow, 0])
    if o.lr_decay and best["config"]["gamma"] != o.lr_decay:  # the rate annealed faster over the few epochs
        decayed = {**best["config"], "gamma": o.lr_decay}
        weigh(best["name"] + "-decay", decayed, [c.keys["transfer"], decayed, 0])
    if o.pre_conv and best["config"]["student"] != "cnn":  # a convolution before the LSTMs
        conv = {**best["config"], "pre_conv": o.pre_conv}
        weigh(best["name"] + "-preconv", conv, [c.keys["transfer"], conv, 0])
    if o.disagree_weight:  # the soft term weighted towards teacher-student disagreement
        weighted = {**best["config"], "disagree_weight": o.disagree_weight}
        weigh(best["name"] + "-disagree", weighted, [c.keys["transfer"], weighted, 0])
    if o.kl_temperature and best["config"]["distill_loss"] != "kl":  # softmaxes at temperature T, not logits
        kl = {**best["config"], "distill_loss": "kl", "temperature": o.kl_temperature}
        weigh(best["name"] + "-kl", kl, [c.keys["transfer"], kl, 0])
    if o.ema and best["config"].get("ema", 0) != o.ema:  # Adam's moving average of the weights: less seed noise
        averaged = {**best["config"], "ema": o.ema}
        weigh(best["name"] + "-ema", averaged, [c.keys["transfer"], averaged, 0])
    if o.more_transfer:  # the same recipe on a larger transfer set: a second draw of augmented text
        _more(o, c, stage)
        more = c.result("transfer")["shards"] + "+" + c.result("more")["shards"]
        weigh(best["name"] + "-more", best["config"], [c.keys["transfer"], c.keys["more"], best["config"], 0],
              shards=more)
    if o.compose:  # the same recipe with composed texts added to its transfer set
        _composed(o, c, stage)
        grown = best["name"].endswith("-more")
        both = (best["shards"] if grown else c.result("transfer")["shards"]) + "+" + c.result("composed")["shards"]
        weigh(best["name"] + "-composed", best["config"],
              [c.keys["transfer"], c.keys["composed"], best["config"], 0] + ([c.keys["more"]] if grown else []),
              shards=both)
    seeds, seed_keys = [best], []
    for stage_name, r in more_seeds[best["name"]]:  # --lever-seeds: the chosen recipe's seeds trained already
        seeds.append(r)
        seed_keys.append(c.keys[stage_name])
    for seed in range(len(seeds), o.seeds):
        seeds.append(stage(f"seed-{seed}", "candidate", seed_deps(best, seed),
                           lambda s=seed: S.train_and_score(o, c, best["name"], best["config"], s, log,
                                                            shards=best.get("shards"))))
        seed_keys.append(c.keys[f"seed-{seed}"])
    chosen = max(seeds, key=lambda r: (r["selection"][metric], -r["seed"]))
    chosen_key = [c.keys[first], seed_keys]
    scored = candidates + seeds[1:]
    slices = stage("selection-slices", "selection-slices", [[c.keys[k] for k in c.keys if k.startswith(("candidate-",
                   "seed-"))]], lambda: S.selection_slices(o, c, scored, log))
    shipped, shipped_seeds = chosen, seeds
    if o.refit:  # every choice is made: give the held-back text to the chosen recipe's seeds
        _refit_text(o, c, stage)
        shipped_seeds = [stage(f"refit-{r['seed']}", "refit", [c.keys["refit-text"], chosen_key, r["seed"]],
                               lambda r=r: R.refit(o, c, r, log)) for r in seeds]
        shipped = next(r for r in shipped_seeds if r["seed"] == chosen["seed"])
        chosen_key = [chosen_key, [c.keys[f"refit-{r['seed']}"] for r in seeds]]
        if not shipped["fits"]:  # same vocabulary rows: only the C table's bytes could move
            raise UserError(f"--refit: the refit model is {shipped['flash_bytes']:,} B, over --flash; run without --refit")
    checks = stage("checks", "checks", chosen_key, lambda: K.runtime_checks(o, c, shipped, log))
    guard = TestGuard(o, c.path("data"), c.path("test_read.json"))
    test = stage("test", "test", chosen_key, lambda: K.test_read(o, c, guard, shipped, shipped_seeds, log))
    bundle = stage("bundle", "bundle", [c.keys["checks"]], lambda: K.write_bundle(o, c, shipped, checks, log))
    return candidates, seeds, chosen, metric, checks, test, bundle, slices, (shipped_seeds if o.refit else None)


# The teacher's work for the levers and the refit: keyed on the teacher's results only (not on which
# recipe won), so a dry run can look these up before the candidates are known.
def _more(o, c, stage):
    return stage("more", "more", [c.keys["transfer"]], lambda: S.more_transfer(o, c, c.log))


def _composed(o, c, stage):
    return stage("composed", "composed", [c.keys["logits"]], lambda: S.composed(o, c, c.log))


def _refit_text(o, c, stage):
    return stage("refit-text", "refit-text", [c.keys["splits"], c.keys["transfer"]], lambda: R.refit_text(o, c, c.log))

#!/usr/bin/python3
"""The paper's experiments as one command: runs a declared experiment and
writes its report (Python 3 standard library + Debian's python3-matplotlib).

  tools/experiment.py EXPERIMENT.json [--out DIR] [--jobs N] [--gpus 0,1,...]
                      [--trainer PATH] [--report-only]

For every chain of the file and every seed, `trainer train` runs (into
DIR/<chain>/seed<S>/<run>/):
  standard-motivated  the largest model trained alone (--trigger always): the
                      reference of F_Ratio
  standard-base       the base trained alone (--trigger never)
  scheme              the motivated scheme (the file's trigger and duration)
  ablation-a          random-rate:P, the scheme's expected activation count
  ablation-b          random-count:N, the scheme's exact activation count
and, with a "transfer" stage, each of the scheme's and the standard runs'
models is exported (`trainer export`) and fine-tuned on the transfer classes
(`--init-from`), beside the same model trained there from scratch:
  ft-<source>-<role>  source: scheme | standard | scratch; role: base | motivated
Then DIR/report.md (tables, plots in DIR/report/, one paragraph per research
question) and DIR/results.json (every number of every run, by seed).

A run whose summary.json exists is skipped; a run folder without one is
resumed (`trainer train --resume`: from its checkpoint, bit for bit on a
CPU); an export that exists is kept. So an interrupted experiment continues
where it stopped: run the same command again. --jobs N runs N trainers at
once (a run waits for the runs it needs), each with its own GPU from --gpus
in turn (CUDA_VISIBLE_DEVICES), or on a CPU with OMP_NUM_THREADS = cores / N
unless it is set (CPU results depend on the thread count, bit for bit: set
OMP_NUM_THREADS, or keep --jobs, when an experiment is continued).
Every command is logged in DIR/commands.log, each run's output in
DIR/logs/. Bad input is one line on stderr, exit 2; a failed run stops the
experiment (exit 1) naming its log. The file format is in docs/transfer.md.
"""
import argparse
import concurrent.futures
import copy
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

PROG = "experiment.py"
HERE = os.path.dirname(os.path.abspath(__file__))

# The keys of an experiment file, with their defaults (REQUIRED: no default;
# "transfer" may be left out: no fine-tuning stage, no RQ4).
REQUIRED = object()
FILE_KEYS = {
    "name": REQUIRED, "description": "", "data": REQUIRED, "chains": REQUIRED,
    "seeds": REQUIRED, "epochs": REQUIRED, "trigger": "loss-decrease:3", "duration": "steps:1",
    "device": "auto", "train": {}, "args": [], "rqs": ["rq1", "rq2", "rq3", "rq4"],
    "transfer": None,
}
# What "train" and "transfer" may hold (each becomes a trainer flag).
DATA_KEYS = ("classes", "limit_train", "limit_test")
TRANSFER_KEYS = DATA_KEYS + ("epochs", "args", "freeze", "export_recalibrate", "scratch")


class InputError(Exception):
    """Bad input: reported as one line, exit code 2."""


class RunFailed(Exception):
    """A trainer or export command failed: exit code 1."""


# ---------------------------------------------------------------- the file --

def load_experiment(path):
    try:
        with open(path) as f:
            e = json.load(f)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: {err}")
    if not isinstance(e, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key in e:
        if key not in FILE_KEYS:
            raise InputError(f"{path}: unknown key '{key}' (known: {', '.join(FILE_KEYS)})")
    for key, default in FILE_KEYS.items():
        if key not in e:
            if default is REQUIRED:
                raise InputError(f"{path}: missing key '{key}'")
            e[key] = copy.deepcopy(default)
    chains = e["chains"]
    if (not isinstance(chains, list) or not chains or
            not all(isinstance(c, list) and len(c) >= 2 and all(isinstance(m, str) for m in c)
                    for c in chains)):
        raise InputError(f"{path}: chains: expected a list of model chains, smallest first, "
                         f"e.g. [[\"resnet20x0.5\", \"resnet20\"]]")
    if not isinstance(e["seeds"], list) or not e["seeds"] or not all(
            isinstance(s, int) and s >= 0 for s in e["seeds"]):
        raise InputError(f"{path}: seeds: expected a list of seeds, e.g. [0, 1, 2]")
    if not isinstance(e["epochs"], int) or e["epochs"] < 1:
        raise InputError(f"{path}: epochs: expected a positive integer")
    if not isinstance(e["args"], list) or not all(isinstance(a, str) for a in e["args"]):
        raise InputError(f"{path}: args: expected a list of trainer arguments (strings)")
    for key in e["train"]:
        if key not in DATA_KEYS:
            raise InputError(f"{path}: train: unknown key '{key}' (known: {', '.join(DATA_KEYS)})")
    unknown = [r for r in e["rqs"] if r not in ("rq1", "rq2", "rq3", "rq4")]
    if unknown:
        raise InputError(f"{path}: rqs: unknown {unknown} (rq1 .. rq4)")
    t = e["transfer"]
    if t is not None:
        if not isinstance(t, dict) or "classes" not in t:
            raise InputError(f"{path}: transfer: expected an object with at least 'classes'")
        for key in t:
            if key not in TRANSFER_KEYS:
                raise InputError(f"{path}: transfer: unknown key '{key}' "
                                 f"(known: {', '.join(TRANSFER_KEYS)})")
        t.setdefault("epochs", e["epochs"])
        t.setdefault("args", [])
        t.setdefault("freeze", False)
        t.setdefault("export_recalibrate", 0)
        t.setdefault("scratch", True)
    if "rq4" in e["rqs"] and t is None:
        e["rqs"] = [r for r in e["rqs"] if r != "rq4"]
    return e


def data_flags(section):
    flags = []
    for key in DATA_KEYS:
        if key in section:
            flags += ["--" + key.replace("_", "-"), str(section[key])]
    return flags


def chain_name(chain):
    return "-in-".join(chain)


# ---------------------------------------------------------------- the plan --

class Task:
    """One command of the experiment: a run (train or resume) or an export."""

    def __init__(self, key, deps, make_command, done, run_dir=None, folder=None):
        self.key = key              # "chain/seed0/scheme"
        self.deps = deps            # keys of the tasks it needs
        self.make_command = make_command  # () -> argv, once its deps are done
        self.done = done            # () -> whether its result exists
        self.run_dir = run_dir      # a run's folder (None for an export)
        self.folder = folder        # a folder the command writes into (an export's)


def plan(e, out, trainer):
    """Every task of the experiment, in an order that respects dependencies."""
    tasks = []
    for chain in e["chains"]:
        for seed in e["seeds"]:
            tasks += seed_tasks(e, out, trainer, chain, seed)
    return tasks


def seed_tasks(e, out, trainer, chain, seed):
    """The runs (and exports) of one chain and seed."""
    cname = chain_name(chain)
    sdir = os.path.join(out, cname, f"seed{seed}")
    tasks = []

    def key(run):
        return f"{cname}/seed{seed}/{run}"

    def path(run):
        return os.path.join(sdir, run)

    def train(run, deps, flags):
        """A run into sdir/run; flags() gives its flags once its deps are done."""
        d = path(run)
        tasks.append(Task(key(run), [key(x) for x in deps],
                          lambda: [trainer, "train"] + flags() + ["--seed", str(seed), "--out", d,
                                                                  "--quiet"],
                          lambda: os.path.exists(os.path.join(d, "summary.json")), d))

    common = ["--data", e["data"], "--epochs", str(e["epochs"]), "--device", e["device"]]
    common += data_flags(e["train"]) + e["args"] + ["--models", ",".join(chain)]
    ref = ["--reference", path("standard-motivated")]
    scheme = ["--trigger", e["trigger"], "--duration", e["duration"]]
    train("standard-motivated", [], lambda: common + ["--trigger", "always"])
    train("standard-base", ["standard-motivated"], lambda: common + ["--trigger", "never"] + ref)
    train("scheme", ["standard-motivated"], lambda: common + scheme + ref)
    for index, kind in enumerate(("a", "b")):
        train(f"ablation-{kind}", ["standard-motivated", "scheme"],
              lambda index=index: common + [
                  "--trigger", ablation_triggers(read_summary(path("scheme")))[index],
                  "--duration", e["duration"]] + ref)
    t = e["transfer"]
    if t is None:
        return tasks
    # RQ4: each model exported from the scheme run and from its standard run,
    # fine-tuned on the transfer classes; and trained there from scratch.
    tune = ["--data", e["data"], "--epochs", str(t["epochs"]), "--device", e["device"]]
    tune += data_flags(t) + t["args"]
    if t["freeze"]:
        tune += ["--freeze", "backbone"]
    for role, arch in (("base", chain[0]), ("motivated", chain[-1])):
        for source, run in (("scheme", "scheme"), ("standard", f"standard-{role}")):
            exported = os.path.join(sdir, "exports", f"{source}-{role}.safetensors")
            tasks.append(Task(
                key(f"export-{source}-{role}"), [key(run)],
                lambda run=run, exported=exported, role=role: [
                    trainer, "export", "--run", path(run), "--model", role,
                    "--recalibrate", str(t["export_recalibrate"]), "--out", exported],
                lambda exported=exported: os.path.exists(exported),
                folder=os.path.dirname(exported)))
            train(f"ft-{source}-{role}", [f"export-{source}-{role}"],
                  lambda arch=arch, exported=exported: tune + ["--base", arch,
                                                               "--init-from", exported])
        if t["scratch"] and not t["freeze"]:
            train(f"ft-scratch-{role}", [], lambda arch=arch: tune + ["--base", arch])
    return tasks


def ablation_triggers(summary):
    """Ablation A's and B's triggers for a scheme run: random-rate:P with
    P = activations / (steps outside activations + activations), the same
    expected activation count (with steps:1 simply activations / steps), and
    random-count:N with its exact count."""
    steps, motivated, activations = (summary["steps"], summary["motivated_steps"],
                                     summary["activations"])
    candidates = steps - motivated + activations
    rate = activations / candidates if candidates else 0.0
    return f"random-rate:{rate:.9g}", f"random-count:{activations}"


# ---------------------------------------------------------------- running --

class Runner:
    def __init__(self, tasks, out, jobs, gpus, device):
        self.tasks = {t.key: t for t in tasks}
        self.order = [t.key for t in tasks]
        self.out = out
        self.jobs = jobs
        self.gpus = gpus
        self.device = device
        self.lock = threading.Lock()
        self.free_slots = list(range(jobs))
        self.commands = open(os.path.join(out, "commands.log"), "a")
        self.ran_any = False

    def env_for(self, slot):
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        elif self.jobs > 1 and self.device == "cpu" and "OMP_NUM_THREADS" not in env:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.jobs))
        return env

    def execute(self, task, slot):
        argv = task.make_command()
        what = "run"
        if task.run_dir and os.path.isdir(task.run_dir):
            if os.path.exists(os.path.join(task.run_dir, "config.json")):
                argv = [argv[0], "train", "--resume", task.run_dir, "--quiet"]
                what = "resume"
            else:  # stopped before the trainer wrote anything of its own
                shutil.rmtree(task.run_dir)
        if task.folder:
            os.makedirs(task.folder, exist_ok=True)
        log = os.path.join(self.out, "logs", task.key.replace("/", "_") + ".log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        line = " ".join(shlex.quote(a) for a in argv)
        with self.lock:
            print(f"experiment: {what} {task.key}", flush=True)
            self.commands.write(line + "\n")
            self.commands.flush()
        self.ran_any = True
        start = time.monotonic()
        with open(log, "a") as f:
            f.write(f"$ {line}\n")
            f.flush()
            code = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, env=self.env_for(slot))
        if code != 0:
            raise RunFailed(f"{task.key} failed (exit code {code}): {line}; see {log}")
        with self.lock:
            print(f"experiment: done {task.key} ({time.monotonic() - start:.0f} s)", flush=True)

    def run(self):
        finished = {k for k, t in self.tasks.items() if t.done()}
        for k in self.order:
            if k in finished and self.tasks[k].run_dir:
                print(f"experiment: skip {k} (finished)")
        pending = [k for k in self.order if k not in finished]
        running = {}
        failure = None
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
            while pending or running:
                if failure is None:
                    for k in list(pending):
                        if len(running) >= self.jobs:
                            break
                        if all(d in finished for d in self.tasks[k].deps):
                            slot = self.free_slots.pop(0)
                            running[pool.submit(self.execute, self.tasks[k], slot)] = (k, slot)
                            pending.remove(k)
                if not running:
                    break
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in done:
                    k, slot = running.pop(fut)
                    self.free_slots.append(slot)
                    try:
                        fut.result()
                        finished.add(k)
                    except (RunFailed, InputError) as err:
                        failure = failure or err
        if failure:
            raise failure
        if pending:
            raise RunFailed(f"tasks never ready: {', '.join(pending)}")


# ---------------------------------------------------------------- numbers --

def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (did that run finish?)")
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: {err}")


def read_summary(run):
    path = os.path.join(run, "summary.json")
    s = read_json(path)
    for key in ("steps", "motivated_steps", "activations", "train_flops", "wall_seconds"):
        if key not in s:
            raise InputError(f"{path}: no '{key}'")
    return s


def collect(e, out):
    """results[chain][run][seed] = the run's numbers (no wall times but one)."""
    results = {}
    for chain in e["chains"]:
        cname = chain_name(chain)
        per_run = {}
        for seed in e["seeds"]:
            sdir = os.path.join(out, cname, f"seed{seed}")
            for run in sorted(os.listdir(sdir)):
                d = os.path.join(sdir, run)
                if not os.path.exists(os.path.join(d, "summary.json")):
                    continue
                s, c = read_summary(d), read_json(os.path.join(d, "config.json"))
                r = {"trigger": c["trigger"], "steps": s["steps"],
                     "activations": s["activations"], "train_flops": s["train_flops"],
                     "wall_seconds": s["wall_seconds"]}
                for role in ("base", "motivated"):
                    r[f"acc_{role}"] = s.get(f"acc_{role}")
                    r[f"acc_{role}_recalibrated"] = s.get(f"acc_{role}_recalibrated")
                    r[f"train_flops_{role}"] = s.get(f"train_flops_{role}")
                per_run.setdefault(run, {})[str(seed)] = r
        results[cname] = per_run
    return results


def mean(v):
    return sum(v) / len(v)


def std(v):
    """Sample standard deviation; 0 for a single value."""
    if len(v) < 2:
        return 0.0
    m = mean(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))


# Two-sided 95% quantiles of Student's t by degrees of freedom; beyond 30 the
# value at 30, which is larger than the true one (a conservative test).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t95(dof):
    return T95[min(dof, len(T95)) - 1]


def paired(a, b):
    """Per-seed differences a - b: (mean, std, n, verdict). The verdict is
    'inside the seed noise' when |mean| < std of the differences,
    'significant (paired t, 95%)' when |mean| > t95(n-1) std / sqrt(n), else
    'beyond the seed spread, not significant with n seeds'."""
    d = [x - y for x, y in zip(a, b)]
    m, s, n = mean(d), std(d), len(d)
    if n < 2:
        verdict = "one seed: no spread to compare with"
    elif abs(m) <= s:
        verdict = "inside the seed noise"
    elif s == 0 or abs(m) > t95(n - 1) * s / math.sqrt(n):
        verdict = "significant (paired t-test, 95%)"
    else:
        verdict = f"beyond the seed spread, not significant with {n} seeds"
    return m, s, n, verdict, d


def fmt(v, digits=2):
    return "—" if v is None else f"{v:,.{digits}f}"


def ms(values, digits=2):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    if len(values) == 1:
        return fmt(values[0], digits)
    return f"{fmt(mean(values), digits)} ± {fmt(std(values), digits)}"


def pflops(flops):
    """Training FLOPs as PFLOPs, mean ± std, 3 significant digits."""
    v = [f / 1e15 for f in flops]
    return f"{mean(v):.3g}" + (f" ± {std(v):.2g}" if len(v) > 1 else "")


def plural(n, what):
    return f"{n} {what}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------- report --

class Section:
    """One chain's tables and paragraphs."""

    def __init__(self, e, chain, runs, out, plot_dir, rel):
        self.e, self.chain, self.runs, self.out = e, chain, runs, out
        self.seeds = [str(s) for s in e["seeds"]]
        self.plot_dir, self.rel = plot_dir, rel
        self.lines = []
        # The accuracy compared: after BN recalibration when every run measured it.
        # (the pre-training runs: the fine-tuning runs compare plain accuracies).
        self.recal = all(r.get("acc_base_recalibrated") is not None
                         for name, run in runs.items() if not name.startswith("ft-")
                         for r in run.values())
        self.suffix = "_recalibrated" if self.recal else ""
        self.acc_words = "test accuracy after BN recalibration" if self.recal else "test accuracy"

    def have(self, *names):
        return all(n in self.runs and all(s in self.runs[n] for s in self.seeds) for n in names)

    def acc(self, run, role):
        return [self.runs[run][s][f"acc_{role}{self.suffix}"] for s in self.seeds]

    def plain(self, run, role):
        return [self.runs[run][s][f"acc_{role}"] for s in self.seeds]

    def flops(self, run):
        return [self.runs[run][s]["train_flops"] for s in self.seeds]

    def say(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + "---|" * len(header))
        for r in rows:
            self.say("| " + " | ".join(r) + " |")
        self.say()

    def diff_row(self, label, a, b):
        m, s, n, verdict, d = paired(a, b)
        per_seed = ", ".join(f"{x:+.2f}" for x in d)
        return [label, f"{m:+.2f}", f"{s:.2f}", per_seed, verdict], (m, s, verdict)

    def runs_table(self):
        base, top = self.chain[0], self.chain[-1]
        names = [("standard-base", f"standard base ({base} alone)"),
                 ("standard-motivated", f"standard motivated ({top} alone)"),
                 ("scheme", "motivated scheme"),
                 ("ablation-a", "ablation A (same expected count)"),
                 ("ablation-b", "ablation B (same exact count)")]
        header = ["run", "trigger", f"acc {base} (%)", f"acc {top} (%)"]
        if self.recal:
            header += [f"acc {base}, BN recal. (%)", f"acc {top}, BN recal. (%)"]
        header += ["train PFLOPs", "activations"]
        rows = []
        for run, label in names:
            if not self.have(run):
                continue
            triggers = sorted({self.runs[run][s]["trigger"] for s in self.seeds})
            trig = triggers[0] if len(triggers) == 1 else triggers[0].split(":")[0] + " (per seed)"
            row = [label, f"`{trig}`", ms(self.plain(run, "base")), ms(self.plain(run, "motivated"))]
            if self.recal:
                row += [ms(self.acc(run, "base")), ms(self.acc(run, "motivated"))]
            row += [pflops(self.flops(run)),
                    ms([self.runs[run][s]["activations"] for s in self.seeds], 1)]
            rows.append(row)
        self.say("Every run, mean ± std over the seeds (the standalone runs also report the "
                 "idle partner: the base inside the standalone motivated model, the motivated "
                 "model around the standalone base):")
        self.say()
        self.table(header, rows)

    def rq1(self):
        if not self.have("scheme", "standard-base"):
            return
        a, b = self.acc("scheme", "base"), self.acc("standard-base", "base")
        self.say(f"### RQ1: does the scheme improve the base model ({self.chain[0]})?")
        self.say()
        row, (m, s, verdict) = self.diff_row("scheme base − standard base", a, b)
        self.table(["paired difference (points)", "mean", "std", "per seed", "reading"], [row])
        cost = mean(self.flops("scheme")) / mean(self.flops("standard-base"))
        self.say(f"The scheme's base reached {ms(a)} % ({self.acc_words}) against {ms(b)} % "
                 f"for the base trained alone; the paired difference is {m:+.2f} points "
                 f"(std {s:.2f} over {len(a)} seeds): {verdict}. The scheme run cost "
                 f"{cost:.2f}x the standalone base's training FLOPs (it also trained the "
                 f"motivated model).")
        self.say()

    def rq2(self):
        if not self.have("scheme", "standard-motivated"):
            return
        top = self.chain[-1]
        a, b = self.acc("scheme", "motivated"), self.acc("standard-motivated", "motivated")
        fa, fb = self.flops("scheme"), self.flops("standard-motivated")
        ratio = [x / y for x, y in zip(fa, fb)]
        self.say(f"### RQ2: the motivated model ({top}) against training it alone")
        self.say()
        rows = []
        for label, acc, fl, fr in (("scheme", a, fa, ratio),
                                   ("standard motivated", b, fb, [1.0] * len(b))):
            rows.append([label, ms(acc), pflops(fl),
                         ms([x / (f / 1e15) for x, f in zip(acc, fl)], 0), ms(fr, 3),
                         ms([x / r for x, r in zip(acc, fr)])])
        self.table([f"run", f"acc {top} (%)", "train PFLOPs", "ACC/PFLOP", "F_Ratio",
                    "ACC/F_Ratio"], rows)
        row, (m, s, verdict) = self.diff_row("scheme motivated − standard motivated", a, b)
        self.table(["paired difference (points)", "mean", "std", "per seed", "reading"], [row])
        eff = [x / (f / 1e15) - y / (g / 1e15) for x, f, y, g in zip(a, fa, b, fb)]
        better = "higher" if mean(eff) > 0 else "lower"
        self.say(f"The scheme's motivated model reached {ms(a)} % at F_Ratio {ms(ratio, 3)} "
                 f"(the whole scheme run's FLOPs over the standalone run's), against {ms(b)} % "
                 f"trained alone: {m:+.2f} points, {verdict}. Per PFLOP of training its "
                 f"accuracy is {better} (ACC/PFLOP {ms([x / (f / 1e15) for x, f in zip(a, fa)], 0)}"
                 f" against {ms([x / (f / 1e15) for x, f in zip(b, fb)], 0)}); ACC/F_Ratio "
                 f"divides the accuracy by a ratio below 1, so a cheaper run scores higher "
                 f"even at a lower accuracy.")
        self.say()

    def rq3(self):
        if not self.have("scheme", "ablation-a", "ablation-b"):
            return
        self.say("### RQ3: do the motivation times matter (scheme vs ablations A and B)?")
        self.say()
        rows, readings = [], []
        for role, name in (("base", self.chain[0]), ("motivated", self.chain[-1])):
            for abl, label in (("ablation-a", "A"), ("ablation-b", "B")):
                row, r = self.diff_row(f"{name}: scheme − ablation {label}",
                                       self.acc("scheme", role), self.acc(abl, role))
                rows.append(row)
                readings.append((name, label, *r))
        self.table(["paired difference (points)", "mean", "std", "per seed", "reading"], rows)
        inside = [f"{n} vs {l}" for n, l, m, s, v in readings if v == "inside the seed noise"]
        sig = [f"{n} vs {l} ({m:+.2f})" for n, l, m, s, v in readings if v.startswith("significant")]
        text = (f"Ablation A fires at random with the scheme's expected activation count, B "
                f"at random steps with its exact count, so their cost equals the scheme's. ")
        text += (f"Inside the seed noise: {', '.join(inside)}. " if inside else
                 "No difference is inside the seed noise. ")
        text += (f"Significant at 95% (paired t-test): {', '.join(sig)}." if sig else
                 "None is significant at 95% (paired t-test): these runs do not show that "
                 "when the motivated model trains matters.")
        self.say(text)
        self.say()

    def rq4(self):
        t = self.e["transfer"]
        if t is None:
            return
        self.say(f"### RQ4: do the models transfer better? (fine-tuned on classes {t['classes']})")
        self.say()
        mode = ("linear probe (`--freeze backbone`: the classifier alone)" if t["freeze"]
                else "full fine-tuning")
        rows, diffs = [], []
        for role, arch in (("base", self.chain[0]), ("motivated", self.chain[-1])):
            names = [f"ft-{src}-{role}" for src in ("scheme", "standard", "scratch")]
            cells = [arch]
            for n in names:
                cells.append(ms([self.runs[n][s]["acc_base"] for s in self.seeds])
                             if self.have(n) else "—")
            rows.append(cells)
            if self.have(names[0], names[1]):
                a = [self.runs[names[0]][s]["acc_base"] for s in self.seeds]
                b = [self.runs[names[1]][s]["acc_base"] for s in self.seeds]
                row, r = self.diff_row(f"{arch}: from scheme − from standard", a, b)
                diffs.append((row, arch, r))
            if self.have(names[1], names[2]):
                a = [self.runs[names[1]][s]["acc_base"] for s in self.seeds]
                b = [self.runs[names[2]][s]["acc_base"] for s in self.seeds]
                row, r = self.diff_row(f"{arch}: from standard − from scratch", a, b)
                diffs.append((row, arch + " (pre-training itself)", r))
        self.table(["model", "from the scheme's export (%)", "from the standard run's export (%)",
                    "from scratch (%)"], rows)
        self.table(["paired difference (points)", "mean", "std", "per seed", "reading"],
                   [d[0] for d in diffs])
        parts = [f"{arch}: {m:+.2f} points, {v}" for _, arch, (m, s, v) in diffs]
        self.say(f"Each model was exported (`trainer export --recalibrate "
                 f"{t['export_recalibrate']}`: BN statistics recomputed over that many training "
                 f"batches, 0 = as trained) and fine-tuned ({mode}, "
                 f"{plural(t['epochs'], 'epoch')}) on classes {t['classes']} with `--init-from`; "
                 f"a fresh model trained there with the same settings is the from-scratch "
                 f"control. The accuracy is the fine-tuned model's test accuracy. Paired "
                 f"differences: " + "; ".join(parts) + ".")
        self.say()

    def plots(self):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            self.say(f"(No plots: {sys.executable} has no matplotlib; Debian's "
                     f"python3-matplotlib, which tools/setup.sh installs, draws them.)")
            self.say()
            return
        cname = chain_name(self.chain)
        files = []
        # Accuracy against training PFLOPs, each seed a point.
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, (run, label) in enumerate((("standard-base", "standard base"),
                                          ("standard-motivated", "standard motivated"),
                                          ("scheme", "scheme"), ("ablation-a", "ablation A"),
                                          ("ablation-b", "ablation B"))):
            if not self.have(run):
                continue
            for role, marker in (("base", "o"), ("motivated", "s")):
                if (run, role) in (("standard-base", "motivated"), ("standard-motivated", "base")):
                    continue  # idle partners
                x = [f / 1e15 for f in self.flops(run)]
                ax.scatter(x, self.acc(run, role), marker=marker, color=f"C{i}",
                           label=f"{label}: {self.chain[0] if role == 'base' else self.chain[-1]}")
        ax.set_xlabel("training PFLOPs of the run")
        ax.set_ylabel(self.acc_words + " (%)")
        ax.set_title(f"{' in '.join(self.chain)}, one point per seed", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        files.append(("acc_vs_pflops", "accuracy against the run's training PFLOPs, one point "
                      "per seed (circles: the base, squares: the motivated model)"))
        fig.savefig(os.path.join(self.plot_dir, f"{cname}-acc_vs_pflops.png"), dpi=110)
        plt.close(fig)
        # Paired differences, each seed a point, mean ± std as a bar.
        comps = []
        if self.have("scheme", "standard-base"):
            comps.append(("RQ1 base: scheme − standard", self.acc("scheme", "base"),
                          self.acc("standard-base", "base")))
        if self.have("scheme", "standard-motivated"):
            comps.append(("RQ2 motivated: scheme − standard", self.acc("scheme", "motivated"),
                          self.acc("standard-motivated", "motivated")))
        if self.have("scheme", "ablation-a", "ablation-b"):
            for role in ("base", "motivated"):
                for abl, l in (("ablation-a", "A"), ("ablation-b", "B")):
                    comps.append((f"RQ3 {role}: scheme − {l}", self.acc("scheme", role),
                                  self.acc(abl, role)))
        for role in ("base", "motivated"):
            a, b = f"ft-scheme-{role}", f"ft-standard-{role}"
            if self.have(a, b):
                comps.append((f"RQ4 {role}: from scheme − from standard",
                              [self.runs[a][s]["acc_base"] for s in self.seeds],
                              [self.runs[b][s]["acc_base"] for s in self.seeds]))
        if comps:
            fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(comps)))
            for y, (label, a, b) in enumerate(comps):
                m, s, n, verdict, d = paired(a, b)
                ax.errorbar([m], [y], xerr=[s], fmt="o", color="black", capsize=4)
                ax.scatter(d, [y] * len(d), color="C1", alpha=0.7, s=14)
            ax.axvline(0, color="grey", lw=0.8)
            ax.set_yticks(range(len(comps)))
            ax.set_yticklabels([c[0] for c in comps], fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel("accuracy difference (points)")
            fig.tight_layout()
            fig.savefig(os.path.join(self.plot_dir, f"{cname}-paired.png"), dpi=110)
            plt.close(fig)
            files.append(("paired", "every paired difference: each seed (orange), the mean "
                          "and its std (black); a bar crossing 0 is inside the seed noise"))
        # The first seed's runs step by step (tools/plot_run.py).
        seed_dir = os.path.join(self.out, cname, f"seed{self.seeds[0]}")
        runs = [os.path.join(seed_dir, r) for r in ("standard-base", "standard-motivated",
                                                    "scheme", "ablation-a", "ablation-b")
                if self.have(r)]
        curves = os.path.join(self.plot_dir, f"{cname}-seed{self.seeds[0]}")
        os.makedirs(curves, exist_ok=True)
        if runs and subprocess.call([sys.executable, os.path.join(HERE, "plot_run.py"), "--out",
                                     curves] + runs, stdout=subprocess.DEVNULL) == 0:
            files.append((f"seed{self.seeds[0]}/loss", f"seed {self.seeds[0]}: training loss "
                          f"per step of each run, the motivated model's steps marked"))
            files.append((f"seed{self.seeds[0]}/acc_vs_flops", f"seed {self.seeds[0]}: "
                          f"accuracy at each epoch end against the cumulative training PFLOPs"))
        for name, caption in files:
            self.say(f"![{caption}]({self.rel}/{cname}-{name}.png)")
            self.say()
            self.say(f"*{cname}: {caption}.*")
            self.say()


def write_report(e, path, out, results, tasks, wall):
    plot_dir = os.path.join(out, "report")
    os.makedirs(plot_dir, exist_ok=True)
    lines = [f"# Experiment {e['name']}", ""]
    if e["description"]:
        lines += [e["description"], ""]
    t = e["transfer"]
    train = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in e["train"].items()) or "all"
    lines += [f"Data: {e['data']} ({train}); {plural(e['epochs'], 'epoch')} per run; seeds "
              f"{', '.join(map(str, e['seeds']))}; the scheme's trigger `{e['trigger']}` + "
              f"`{e['duration']}`; every run also got `{' '.join(e['args'])}`."
              if e["args"] else
              f"Data: {e['data']} ({train}); {plural(e['epochs'], 'epoch')} per run; seeds "
              f"{', '.join(map(str, e['seeds']))}; the scheme's trigger `{e['trigger']}` + "
              f"`{e['duration']}`.", ""]
    if t:
        lines += [f"Transfer: the exports fine-tuned on classes {t['classes']} "
                  f"({plural(t['epochs'], 'epoch')}{', linear probe' if t['freeze'] else ''}"
                  f"{', ' + ' '.join(t['args']) if t['args'] else ''}).", ""]
    lines += ["Paired differences subtract, seed by seed, the second run's accuracy from the "
              "first's (same seed, so the same initialisation and data order); a difference "
              "is *inside the seed noise* when its mean is smaller than the standard deviation "
              "of the per-seed differences, and *significant* when a paired t-test rejects 0 "
              "at 95%.", ""]
    for chain in e["chains"]:
        cname = chain_name(chain)
        sec = Section(e, chain, results[cname], out, plot_dir, "report")
        sec.say(f"## {' in '.join(chain)}")
        sec.say()
        sec.say(f"Accuracies compared below: {sec.acc_words}.")
        sec.say()
        sec.runs_table()
        for rq in ("rq1", "rq2", "rq3", "rq4"):
            if rq in e["rqs"]:
                getattr(sec, rq)()
        sec.plots()
        lines += sec.lines
    lines += ["## How it was run", "",
              f"`tools/experiment.py {path} --out {out}`: {wall}. Every command, in the order "
              f"run (a resumed run appears as `--resume`), is in `{out}/commands.log`; those of "
              f"the first chain and seed (the other seeds differ in `--seed` and the folders):",
              "", "```sh"]
    first = f"{chain_name(e['chains'][0])}/seed{e['seeds'][0]}/"
    for task in tasks:
        log = os.path.join(out, "logs", task.key.replace("/", "_") + ".log")
        if task.key.startswith(first) and os.path.exists(log):
            with open(log) as f:
                head = f.readline().strip()
            if head.startswith("$ "):
                lines.append(head[2:])
    lines += ["```", ""]
    walls = []
    for cname, runs in results.items():
        for run, seeds in sorted(runs.items()):
            walls.append(f"| {cname} | {run} | " +
                         " | ".join(fmt(seeds[str(s)]["wall_seconds"], 0) if str(s) in seeds
                                    else "—" for s in e["seeds"]) + " |")
    lines += ["Wall seconds per run and seed (noisy on a shared machine; compare costs by "
              "FLOPs):", "", "| chain | run | " + " | ".join(f"seed {s}" for s in e["seeds"]) +
              " |", "|---|---|" + "---|" * len(e["seeds"])] + walls + [""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))


# ---------------------------------------------------------------- main --

def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", help="the experiment file (JSON)")
    p.add_argument("--out", help="the experiment folder (default runs/<name>)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--gpus", default="", help="GPU indices to spread the runs over, e.g. 0,1")
    p.add_argument("--trainer", default=os.environ.get("TRAINER", "build/bin/trainer"))
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the report from the runs there are; run nothing")
    a = p.parse_args(argv)
    if a.jobs < 1:
        raise InputError(f"--jobs {a.jobs}: expected a positive integer")
    e = load_experiment(a.experiment)
    out = a.out or os.path.join("runs", e["name"])
    os.makedirs(out, exist_ok=True)
    tasks = plan(e, out, a.trainer)
    # The wall time of every invocation that ran something, summed (wall.json).
    wall_file = os.path.join(out, "wall.json")
    wall = read_json(wall_file) if os.path.exists(wall_file) else {"seconds": 0, "jobs": []}
    if not a.report_only:
        if not (os.path.isfile(a.trainer) and os.access(a.trainer, os.X_OK)):
            raise InputError(f"no trainer at {a.trainer} (build it, or give --trainer PATH)")
        gpus = [g for g in a.gpus.split(",") if g]
        runner = Runner(tasks, out, a.jobs, gpus, e["device"])
        start = time.monotonic()
        try:
            runner.run()
        finally:
            if runner.ran_any:
                wall["seconds"] += time.monotonic() - start
                wall["jobs"] = sorted(set(wall["jobs"]) | {a.jobs})
                with open(wall_file, "w") as f:
                    json.dump(wall, f)
    results = collect(e, out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({k: {run: {s: {x: y for x, y in r.items() if x != "wall_seconds"}
                             for s, r in seeds.items()} for run, seeds in v.items()}
                   for k, v in results.items()}, f, indent=1, sort_keys=True)
    jobs = ", ".join(map(str, wall["jobs"])) or "?"
    wall_text = (f"{wall['seconds'] / 60:.1f} minutes of wall time in all (the invocations "
                 f"that ran something, --jobs {jobs})")
    write_report(e, a.experiment, out, results, tasks, wall_text)
    print(f"experiment: report in {os.path.join(out, 'report.md')}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except InputError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        sys.exit(2)
    except RunFailed as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # the trainers got the SIGINT too, and checkpointed
        print(f"{PROG}: interrupted; the same command continues the experiment", file=sys.stderr)
        sys.exit(130)

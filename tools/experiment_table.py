#!/usr/bin/python3
"""The numbers tools/experiment.sh needs from `trainer train` runs.

  tools/experiment_table.py ablations RUN   the ablation triggers matching the
        scheme run RUN: "random-rate:P random-count:N"
  tools/experiment_table.py table DIR       the Markdown table of an
        experiment folder DIR/seed<S>/<run>/, mean +- std over the seeds

Ablation A fires on each step outside an activation with probability P, so
P = activations / (steps outside activations + activations) of the scheme run
gives the same expected activation count (with steps:1 that is simply
activations / steps). Ablation B repeats the scheme's exact count N.

In the table, ACC/PFLOP = test accuracy (%) / the run's training PFLOPs, and
ACC/F_Ratio = accuracy / F_Ratio, where F_Ratio = the run's training FLOPs /
those of the standalone motivated run of the same seed (docs/training.md,
the definitions). The
standalone runs report their idle partner too (the base inside the motivated
model, the motivated model around the trained base): a control for what the
scheme adds. "—" marks what a run did not measure. A missing or malformed file
is one line on stderr, exit 2.
"""
import json
import math
import os
import re
import sys

PROG = "experiment_table.py"

# The runs of one seed, in table order: (folder, row label).
RUNS = (
    ("base", "standard base"),
    ("motivated", "standard motivated"),
    ("scheme", "motivated scheme"),
    ("ablation-a", "ablation A (same expected count)"),
    ("ablation-b", "ablation B (same exact count)"),
)


class InputError(Exception):
    """Bad input: reported as one line, exit code 2."""


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (did that run finish?)")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}")


def read_summary(run):
    """RUN/summary.json, checked for the keys every run has."""
    path = os.path.join(run, "summary.json")
    s = read_json(path)
    for key in ("steps", "motivated_steps", "activations", "train_flops", "wall_seconds"):
        if key not in s:
            raise InputError(f"{path}: no '{key}'")
    return s


def ablations(run):
    s = read_summary(run)
    steps, motivated, activations = s["steps"], s["motivated_steps"], s["activations"]
    candidates = steps - motivated + activations
    rate = activations / candidates if candidates else 0.0
    print(f"random-rate:{rate:.9g} random-count:{activations}")


def mean_std(values):
    """'mean ± std' (sample std over seeds), '—' when nothing was measured."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mean = sum(values) / len(values)
    std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else None)
    # Both numbers with the mean's precision: 2 decimals for percentages,
    # none for large ratios, 3 significant digits for small PFLOP counts.
    if all(isinstance(v, int) for v in values):  # counts: whole unless they vary
        decimals = 0 if std is None or std == 0 else 1
        text = [f"{v:,.{decimals}f}" for v in (mean, std) if v is not None]
    elif abs(mean) >= 1:
        decimals = 0 if abs(mean) >= 1000 else 2
        text = [f"{v:,.{decimals}f}" for v in (mean, std) if v is not None]
    else:
        text = [f"{v:.3g}" for v in (mean, std) if v is not None]
    return " ± ".join(text)


def plural(n, what):
    return f"{n} {what}" + ("s" if n != 1 else "")


def seed_dirs(root):
    seeds = sorted((int(m.group(1)), os.path.join(root, name))
                   for name in os.listdir(root) if (m := re.fullmatch(r"seed(\d+)", name)))
    if not seeds:
        raise InputError(f"{root}: no seed<N> folders (is it a tools/experiment.sh --out?)")
    return seeds


def table(root):
    seeds = seed_dirs(root)
    # summaries[run][i], configs[run][i]: seed i's run
    summaries, configs = {}, {}
    for name, _ in RUNS:
        summaries[name] = [read_summary(os.path.join(d, name)) for _, d in seeds]
        configs[name] = [read_json(os.path.join(d, name, "config.json")) for _, d in seeds]

    c = configs["scheme"][0]
    limits = ", ".join(f"{c[k]} {what} images" for k, what in
                       (("limit_train", "training"), ("limit_test", "test")) if c.get(k, -1) >= 0)
    print(f"{c['base']} in {c['motivated']} on {c['data']}, {plural(c['epochs'], 'epoch')}"
          f"{', ' + limits if limits else ''}, {c.get('device', '?')}; mean ± std over "
          f"{plural(len(seeds), 'seed')} ({', '.join(str(s) for s, _ in seeds)}).\n")
    # Runs with --recalibrate also measured both models after recomputing their
    # BN statistics: two more columns then.
    recalibrated = any(s.get("acc_base_recalibrated") is not None
                       for rows in summaries.values() for s in rows)
    header = ["run", "trigger", "acc base (%)", "acc motivated (%)"]
    if recalibrated:
        header += ["acc base, BN recal. (%)", "acc motivated, BN recal. (%)"]
    header += ["train PFLOPs", "activations", "ACC/PFLOP base", "ACC/PFLOP motivated",
               "ACC/F_Ratio base", "ACC/F_Ratio motivated", "wall (s)"]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    reference_flops = [s["train_flops"] for s in summaries["motivated"]]
    for name, label in RUNS:
        rows = summaries[name]
        triggers = sorted({cfg["trigger"] for cfg in configs[name]})
        # The ablations' P (and N) differ per seed: name the trigger, not a value.
        trigger = triggers[0] if len(triggers) == 1 else triggers[0].split(":")[0] + " (per seed)"
        if trigger not in ("always", "never"):
            trigger += " + " + configs[name][0]["duration"]
        pflops = [s["train_flops"] / 1e15 for s in rows]
        acc = {role: [s.get(f"acc_{role}") for s in rows] for role in ("base", "motivated")}
        cells = [label, f"`{trigger}`", mean_std(acc["base"]), mean_std(acc["motivated"])]
        if recalibrated:
            cells += [mean_std([s.get(f"acc_{role}_recalibrated") for s in rows])
                      for role in ("base", "motivated")]
        cells += [mean_std(pflops), mean_std([s["activations"] for s in rows])]
        for role in ("base", "motivated"):
            cells.append(mean_std([a / p if a is not None and p else None
                                   for a, p in zip(acc[role], pflops)]))
        for role in ("base", "motivated"):
            cells.append(mean_std([a * ref / s["train_flops"]
                                   if a is not None and s["train_flops"] else None
                                   for a, s, ref in zip(acc[role], rows, reference_flops)]))
        cells.append(mean_std([s["wall_seconds"] for s in rows]))
        print("| " + " | ".join(cells) + " |")


def main(argv):
    if len(argv) != 2 or argv[0] not in ("ablations", "table"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    (ablations if argv[0] == "ablations" else table)(argv[1])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except InputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        sys.exit(2)

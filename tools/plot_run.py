#!/usr/bin/python3
"""Plots of `trainer train` runs (Debian's python3-matplotlib, Agg backend).

  tools/plot_run.py [--out DIR] RUN [RUN...]

Reads each RUN's config.json, metrics.jsonl and summary.json and writes three
PNGs into --out (default: the first RUN):
  loss.png          training loss per step, one panel per run, motivated
                    steps marked
  accuracy.png      test accuracy per epoch of the base (solid) and the
                    motivated model (dashed), every run on one chart
  acc_vs_flops.png  test accuracy against cumulative training PFLOPs at each
                    epoch end, every run on one chart (the paper's trade-off)
The accuracy charts show the accuracies after BN recalibration when every run
measured them (trainer train --recalibrate N), unless --plain.
metrics.jsonl holds step records ({"step", "epoch", "model", "loss", "lr",
"train_flops", ...}) and epoch records ({"epoch", "acc_base",
"acc_motivated", ...}); keys not named here are ignored, so newer trainers
stay readable. A missing or malformed file is one line on stderr, exit 2.
"""
import argparse
import json
import os
import sys

PROG = "plot_run.py"


class InputError(Exception):
    """Bad input: reported as one line, exit code 2."""


def open_input(path):
    try:
        return open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (is it a `trainer train --out` folder?)")
    except OSError as e:
        raise InputError(f"{path}: {e}")


def read_json(path):
    with open_input(path) as f:
        try:
            return json.load(f)
        except ValueError as e:
            raise InputError(f"{path}: {e}")


def read_metrics(path):
    """(step records, epoch records) of one metrics.jsonl."""
    steps, epochs = [], []
    with open_input(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{number}: {e}")
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: expected a JSON object")
            # Records say their "type"; without one, the keys tell.
            kind = record.get("type")
            if kind == "step" or (kind is None and "step" in record and "loss" in record):
                steps.append(record)
            elif kind == "epoch" or (kind is None and "epoch" in record and
                                     ("acc_base" in record or "acc_motivated" in record)):
                epochs.append(record)
    return steps, epochs


class Run:
    def __init__(self, path, label):
        self.path = path
        self.label = label
        self.config = read_json(os.path.join(path, "config.json"))
        self.summary = read_json(os.path.join(path, "summary.json"))
        self.steps, self.epochs = read_metrics(os.path.join(path, "metrics.jsonl"))
        if not self.steps:
            raise InputError(f"{os.path.join(path, 'metrics.jsonl')}: no step records")

    def policy(self):
        trigger = self.config.get("trigger", "?")
        if trigger in ("always", "never"):  # no activations with a length
            return trigger
        return f"{trigger} + {self.config.get('duration', '?')}"

    def models(self):
        """(role, architecture) of the models the run has."""
        yield "base", self.config.get("base") or "base"
        if self.config.get("motivated"):
            yield "motivated", self.config["motivated"]

    def epoch_points(self, key, x):
        """[(x of the epoch record, accuracy)] for `key`, where the record has both."""
        return [(x(e), e[key]) for e in self.epochs if e.get(key) is not None and x(e) is not None]

    def pflops_at_end(self, epoch):
        """Cumulative training PFLOPs after `epoch` (its record's, else its last step's)."""
        if epoch.get("train_flops") is not None:
            return epoch["train_flops"] / 1e15
        last = [s["train_flops"] for s in self.steps
                if s.get("epoch") == epoch["epoch"] and "train_flops" in s]
        return last[-1] / 1e15 if last else None


def labels_for(paths):
    """Run names without their common prefix ("exp/seed0/scheme" -> "seed0/scheme")."""
    norm = [os.path.normpath(p) for p in paths]
    if len(norm) == 1:
        return [os.path.basename(norm[0])]
    common = os.path.commonpath([os.path.abspath(p) for p in norm])
    return [os.path.relpath(os.path.abspath(p), common) for p in norm]


def plot_loss(runs, plt, path):
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 2.2 * len(runs) + 0.6), squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        x = [s["step"] for s in run.steps]
        y = [s["loss"] for s in run.steps]
        ax.plot(x, y, color="0.6", linewidth=0.7, label="loss")
        mot = [(s["step"], s["loss"]) for s in run.steps if s.get("model") == "motivated"]
        if mot:
            ax.scatter(*zip(*mot), s=6, color="tab:red", zorder=3,
                       label=f"motivated step ({len(mot)})")
        count = run.summary.get("activations", "?")
        ax.set_title(f"{run.label}: {run.policy()}, {count} activation"
                     f"{'' if count == 1 else 's'}", fontsize=9)
        ax.set_ylabel("train loss")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_accuracy_chart(runs, plt, path, variant, x, xlabel, integer_x=False):
    """Test accuracy per epoch (`variant` "" or "_recalibrated") of both models
    of every run on one chart: one colour per run, solid for the base model,
    dashed for the motivated one."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, run in enumerate(runs):
        for role, arch in run.models():
            pts = run.epoch_points(f"acc_{role}{variant}", lambda e: x(run, e))
            if pts:
                ax.plot(*zip(*pts), "-o" if role == "base" else "--^", markersize=4,
                        color=f"C{i % 10}", label=f"{run.label}: {arch}")
    if integer_x:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy" + (", BN recalibrated" if variant else "") + " (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_accuracy(runs, plt, path, variant):
    # epoch records count from 0: the accuracy is measured after epoch + 1 epochs
    plot_accuracy_chart(runs, plt, path, variant, lambda run, e: e["epoch"] + 1,
                        "epochs trained", integer_x=True)


def plot_acc_vs_flops(runs, plt, path, variant):
    plot_accuracy_chart(runs, plt, path, variant, lambda run, e: run.pflops_at_end(e),
                        "training PFLOPs (cumulative, both models)")


def accuracy_variant(runs, plain):
    """"_recalibrated" when every run measured its models after BN
    recalibration (--recalibrate; export recalibrates too, so that is the
    accuracy one deploys), unless --plain; "" otherwise."""
    recalibrated = all(any(e.get("acc_base_recalibrated") is not None for e in run.epochs)
                       for run in runs)
    return "_recalibrated" if recalibrated and not plain else ""


def main(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Writes loss.png, accuracy.png and acc_vs_flops.png.")
    parser.add_argument("runs", metavar="RUN", nargs="+", help="a `trainer train --out` folder")
    parser.add_argument("--out", metavar="DIR", help="where the PNGs go (default: the first RUN)")
    parser.add_argument("--plain", action="store_true",
                        help="plot the accuracies before BN recalibration even where the runs "
                             "measured both (--recalibrate)")
    args = parser.parse_args(argv)  # exits 2 on a bad flag, like every motive program

    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("matplotlib is missing: apt-get install python3-matplotlib "
                         "(tools/setup.sh does), and run with /usr/bin/python3")

    runs = [Run(path, label) for path, label in zip(args.runs, labels_for(args.runs))]
    out = args.out or args.runs[0]
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: {e}")
    variant = accuracy_variant(runs, args.plain)
    paths = [os.path.join(out, name) for name in ("loss.png", "accuracy.png", "acc_vs_flops.png")]
    plot_loss(runs, plt, paths[0])
    plot_accuracy(runs, plt, paths[1], variant)
    plot_acc_vs_flops(runs, plt, paths[2], variant)
    print(f"{PROG}: wrote {', '.join(paths)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except InputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        sys.exit(2)

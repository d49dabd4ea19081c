#!/usr/bin/env bash
# The paper's experiment as one command: for one base/motivated pair and data
# set, over S seeds, five `trainer train` runs per seed in OUT/seed<S>/:
#   motivated   standard training of the motivated model (trigger always):
#               the next-level reference of F_Ratio
#   base        standard training of the base (trigger never)
#   scheme      the motivated scheme (--trigger / --duration)
#   ablation-a  random-rate:P with the scheme run's expected activation count
#   ablation-b  random-count:N with the scheme run's exact activation count
# then OUT/table.md (mean +- std over the seeds, tools/experiment_table.py)
# and the seed-0 runs' plots (tools/plot_run.py) in OUT/.
# A run whose summary.json exists is kept, so an interrupted experiment
# continues where it stopped (delete OUT to start over).
#
#   tools/experiment.sh --base resnet20x0.5 --motivated resnet20 --data fashion-mnist \
#       --epochs 2 --seeds 2 --limit-train 4000 --limit-test 1000 --out runs/exp -- --workers 2
# Everything after `--` goes to every `trainer train`. TRAINER (default
# build/bin/trainer) and PYTHON (default /usr/bin/python3, Debian's, which has
# matplotlib) pick the programs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TRAINER=${TRAINER:-build/bin/trainer}
PYTHON=${PYTHON:-/usr/bin/python3}

usage() {
  cat <<EOF
usage: tools/experiment.sh [options] [-- trainer args...]
  --base NAME         base model (default resnet20x0.5)
  --motivated NAME    motivated model containing the base (default resnet20)
  --data NAME         data set (default fashion-mnist)
  --epochs N          epochs per run (default 2)
  --seeds S           seeds 0 .. S-1 (default 2)
  --trigger SPEC      the scheme's trigger (default loss-decrease:3)
  --duration SPEC     the scheme's and the ablations' duration (default steps:1)
  --limit-train N     first N training images (default: all)
  --limit-test N      first N test images (default: all)
  --device DEV        trainer device (default: the trainer's choice)
  --out DIR           experiment folder (default runs/experiment)
EOF
}
die() { echo "experiment.sh: $*" >&2; exit 2; }

base=resnet20x0.5 motivated=resnet20 data=fashion-mnist epochs=2 seeds=2
trigger=loss-decrease:3 duration=steps:1 out=runs/experiment
common=()  # flags every run shares
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --) shift; common+=("$@"); break ;;
    --base|--motivated|--data|--epochs|--seeds|--trigger|--duration|--limit-train|--limit-test|--device|--out)
      (($# >= 2)) || die "$1 needs a value"
      case $1 in
        --base) base=$2 ;; --motivated) motivated=$2 ;; --data) data=$2 ;;
        --epochs) epochs=$2 ;; --seeds) seeds=$2 ;; --trigger) trigger=$2 ;;
        --duration) duration=$2 ;; --out) out=$2 ;;
        *) common+=("$1" "$2") ;;  # --limit-*, --device: passed on as they are
      esac
      shift 2 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ $seeds =~ ^[1-9][0-9]*$ ]] || die "--seeds must be a positive integer, got '$seeds'"
[[ -x $TRAINER ]] || die "no trainer at $TRAINER (build it, or set TRAINER=path/to/trainer)"

total=$((5 * seeds)) done_runs=0
# train NAME SEED TRIGGER [trainer args...]: one run into OUT/seedSEED/NAME.
train() {
  local name=$1 seed=$2 run_trigger=$3 dir="$out/seed$2/$1"
  shift 3
  done_runs=$((done_runs + 1))
  if [[ -f $dir/summary.json ]]; then
    echo "experiment: [$done_runs/$total] seed $seed $name: done before, kept"
    return
  fi
  echo "experiment: [$done_runs/$total] seed $seed $name: $run_trigger"
  rm -rf "$dir"  # a run interrupted before its end starts afresh
  "$TRAINER" train --data "$data" --base "$base" --motivated "$motivated" --epochs "$epochs" \
    --seed "$seed" --trigger "$run_trigger" --out "$dir" "$@" "${common[@]}"
}

for ((seed = 0; seed < seeds; seed++)); do
  ref="$out/seed$seed/motivated"
  train motivated "$seed" always
  train base "$seed" never --reference "$ref"
  train scheme "$seed" "$trigger" --duration "$duration" --reference "$ref"
  ablations=$("$PYTHON" "$here/experiment_table.py" ablations "$out/seed$seed/scheme")
  read -r rate count <<<"$ablations"
  train ablation-a "$seed" "$rate" --duration "$duration" --reference "$ref"
  train ablation-b "$seed" "$count" --duration "$duration" --reference "$ref"
done

"$PYTHON" "$here/experiment_table.py" table "$out" > "$out/table.md"
cat "$out/table.md"
"$PYTHON" "$here/plot_run.py" --out "$out" "$out"/seed0/{base,motivated,scheme,ablation-a,ablation-b}

#!/usr/bin/env bash
# tools/experiment.py continues an interrupted experiment: a tiny experiment
# (one pair, one seed, the transfer stage; seconds) is killed (SIGKILL, the
# runner and its trainer) while a run is half done, run again, and must end
# with the same numbers (results.json) and the same tables (report.md up to
# its wall times) as the same experiment run in one go; the killed run is
# resumed from its checkpoint, not restarted; a third invocation runs
# nothing. Needs the trainer (TRAINER, set by ctest; default build/bin/trainer)
# and Fashion-MNIST.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runner=$repo/tools/experiment.py
trainer=${TRAINER:-$repo/build/bin/trainer}
tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill -KILL -- "-$pid" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_experiment_runner: FAIL: $*" >&2; exit 1; }
[[ -x $trainer ]] || fail "no trainer at $trainer"
# CPU results depend on the thread count (reductions split differently), and
# --jobs 2 would otherwise give each trainer half the cores.
export OMP_NUM_THREADS=1

cat > "$tmp/tiny.json" <<'EOF'
{
  "name": "tiny", "data": "fashion-mnist",
  "chains": [["resnet20x0.25", "resnet20x0.5"]],
  "seeds": [0], "epochs": 2, "trigger": "loss-decrease:1", "device": "cpu",
  "train": {"classes": "0-4", "limit_train": 96, "limit_test": 32},
  "args": ["--batch-size", "16", "--schedule", "constant", "--checkpoint-every", "1",
           "--recalibrate", "1", "--workers", "1"],
  "transfer": {"classes": "5-9", "limit_train": 32, "limit_test": 32, "epochs": 1,
               "args": ["--batch-size", "16", "--schedule", "constant", "--workers", "1"],
               "export_recalibrate": 1, "scratch": false}
}
EOF
run() { /usr/bin/python3 "$runner" "$tmp/tiny.json" --trainer "$trainer" "$@"; }

# In one go.
run --out "$tmp/whole" --jobs 2 > "$tmp/whole.log" 2>&1 || fail "the whole run failed: $(tail -3 "$tmp/whole.log")"

# Killed in the middle of its first run, once that run has a checkpoint.
first=$tmp/killed/resnet20x0.25-in-resnet20x0.5/seed0/standard-motivated
setsid /usr/bin/python3 "$runner" "$tmp/tiny.json" --trainer "$trainer" --out "$tmp/killed" \
  > "$tmp/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [[ -f $first/checkpoint.safetensors ]] && break
  kill -0 "$pid" 2> /dev/null || fail "the runner ended before a checkpoint: $(tail -3 "$tmp/killed.log")"
  sleep 0.01
done
kill -KILL -- "-$pid"
wait "$pid" 2> /dev/null || true
pid=
[[ -f $first/checkpoint.safetensors && ! -f $first/summary.json ]] ||
  fail "the first run was not half done when killed"

run --out "$tmp/killed" > "$tmp/again.log" 2>&1 || fail "the second invocation failed: $(tail -3 "$tmp/again.log")"
grep -q "resume resnet20x0.25-in-resnet20x0.5/seed0/standard-motivated" "$tmp/again.log" ||
  fail "the killed run was not resumed: $(cat "$tmp/again.log")"
grep -q -- "--resume $first" "$tmp/killed/commands.log" || fail "commands.log has no --resume"

# Tables: the report up to its wall times and commands (which name the folders).
tables() { sed '/^## How it was run/,$d' "$1/report.md"; }
cmp -s "$tmp/whole/results.json" "$tmp/killed/results.json" ||
  fail "results differ: $(diff "$tmp/whole/results.json" "$tmp/killed/results.json" | head -5)"
[[ "$(tables "$tmp/whole")" == "$(tables "$tmp/killed")" ]] ||
  fail "tables differ: $(diff <(tables "$tmp/whole") <(tables "$tmp/killed") | head -5)"
grep -q "### RQ4" "$tmp/killed/report.md" || fail "the report has no RQ4"
ls "$tmp/killed/report/"*.png > /dev/null || fail "no plots"

# Finished: nothing runs, nothing changes.
run --out "$tmp/killed" > "$tmp/third.log" 2>&1 || fail "the third invocation failed"
! grep -Eq "^experiment: (run|resume) " "$tmp/third.log" || fail "a finished run ran again: $(cat "$tmp/third.log")"
grep -q "skip resnet20x0.25-in-resnet20x0.5/seed0/scheme (finished)" "$tmp/third.log" ||
  fail "no skip line: $(cat "$tmp/third.log")"
cmp -s "$tmp/whole/results.json" "$tmp/killed/results.json" || fail "results changed"

# Bad input: one line, exit 2.
echo '{"name": "x"}' > "$tmp/bad.json"
set +e
err=$(/usr/bin/python3 "$runner" "$tmp/bad.json" --out "$tmp/bad" 2>&1 > /dev/null)
code=$?
set -e
[[ $code == 2 && $(wc -l <<< "$err") == 1 && $err == *"missing key"* ]] || fail "bad file: $code $err"
echo "test_experiment_runner: ok"

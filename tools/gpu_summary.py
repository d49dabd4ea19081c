#!/usr/bin/env python3
"""The short table tools/gpu-check.sh prints last, read from its log folder.

  python3 tools/gpu_summary.py LOG_DIR

Reads gpu.txt, tests.tsv and benches.tsv (name, exit code), every test's
.log, and the Google Benchmark JSON of every bench_cuda_* plus the PyTorch
peer's JSON. Bench rows are matched by name:
  bench_cuda_ops: BM_DeviceCopy is the bandwidth ceiling, every other row an
    op whose GB/s is shown as a percentage of it;
  bench_cuda_train_step: rows labelled "<model> <precision>", shown beside
    pytorch_train_step.json's best run of the same precision;
  any other bench_cuda_* (GEMM against cuBLAS, conv against cuDNN, optimizer
    steps against a copy): rows named "<impl>/<case>", where ours have an impl
    starting with "motive" and the peers any other impl; rows with the same
    <case> are compared on their rate counter (TFLOP/s, else GB/s, else
    images/s). A row that computes its own ratio carries it as a counter
    "vs_<peer>" (ours / peer) and is shown with its label, else its name.
Last, the lines in which conv2d said that cuDNN had no algorithm for a
geometry (it then runs its slow direct kernel), from every log: a train step
that hits one is not measuring cuDNN.
Exits 0; tools/gpu-check.sh decides its own exit code.
"""
import json
import os
import re
import sys

RATES = ("TFLOP/s", "GB/s", "images/s")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def no_json(logs, name):
    """Why a bench left no JSON: the first line of its log (e.g. skipped: no GPU)."""
    first = (read(os.path.join(logs, name + ".log")) or "no log").strip().split("\n")[0]
    return f"  {name}: no JSON ({first})"


def bench_rows(logs, name):
    text = read(os.path.join(logs, name + ".json"))
    if text is None:
        return None
    try:
        return json.loads(text).get("benchmarks", [])
    except json.JSONDecodeError:
        return None


def status_rows(logs, tsv):
    rows = []
    for line in (read(os.path.join(logs, tsv)) or "").splitlines():
        name, _, rc = line.partition("\t")
        rows.append((name, int(rc) if rc.strip().lstrip("-").isdigit() else -1))
    return rows


def exit_word(rc):
    return {0: "ok", 124: "TIMEOUT", 127: "not found", 137: "KILLED",
            200: "not run: time budget spent"}.get(rc, f"exit {rc}")


def tests_section(logs):
    out, failed = ["## tests (binary: doctest test cases)"], 0
    for name, rc in status_rows(logs, "tests.tsv"):
        log = read(os.path.join(logs, name + ".log")) or ""
        m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", log)
        cases = f"{m.group(2)}/{m.group(1)} passed, {m.group(3)} failed" if m else "no summary"
        skipped = "tests skipped:" in log
        verdict = "PASS" if rc == 0 else "FAIL"
        if rc == 0 and skipped:
            verdict = "PASS (GPU cases skipped: no device)"
        failed += rc != 0
        out.append(f"  {name:28s} {verdict:6s} {cases} ({exit_word(rc)})")
    if len(out) == 1:
        out.append("  no test binary ran")
        failed = 1
    return out, failed


def rate(row):
    for key in RATES:
        if key in row:
            return key, row[key]
    return None, None


def errors(rows):
    return [f"  {r['name']}: ERROR {r.get('error_message', '')}"
            for r in rows if r.get("error_occurred")]


def ops_section(logs):
    rows = bench_rows(logs, "bench_cuda_ops")
    if rows is None:
        return ["## memory-bound ops", no_json(logs, "bench_cuda_ops")]
    copy = next((r["GB/s"] for r in rows if r["name"].startswith("BM_DeviceCopy") and "GB/s" in r),
                None)
    out = ["## memory-bound ops (GB/s over the fewest bytes; % of device-to-device copy)"]
    for r in rows:
        if r.get("error_occurred") or "GB/s" not in r:
            continue
        pct = f"{100 * r['GB/s'] / copy:5.1f}%" if copy else "  n/a"
        out.append(f"  {r['name'].split('/')[0][3:]:32s} {r['GB/s']:8.1f} GB/s  {pct}")
    return out + errors(rows)


def peer_section(logs, name):
    rows = bench_rows(logs, name)
    if rows is None:
        return [f"## {name}", no_json(logs, name)]
    cases = {}
    for r in rows:
        impl, _, case = r["name"].partition("/")
        case = re.sub(r"/(manual_time|real_time)$", "", case)
        cases.setdefault(case, {})[impl] = r
    out = [f"## {name} (ours / peer on the rate counter)"]
    for case, impls in cases.items():
        ours = {k: v for k, v in impls.items() if k.startswith("motive")}
        peers = {k: v for k, v in impls.items() if not k.startswith("motive")}
        for oname, o in ours.items():
            key, mine = rate(o)
            for pname, p in peers.items():
                pkey, theirs = rate(p)
                if key is None or pkey != key or not theirs:
                    continue
                out.append(f"  {case:36s} {mine:9.2f} vs {theirs:9.2f} {key} ({pname}) "
                           f"= {100 * mine / theirs:5.1f}%")
    # Rows that computed their own ratio against a peer ("vs_<peer>": ours / peer).
    for r in rows:
        key, mine = rate(r)
        for k, v in r.items():
            if k.startswith("vs_") and isinstance(v, (int, float)):
                what = r.get("label") or re.sub(r"/(manual_time|real_time)$", "", r["name"])
                out.append(f"  {what:36s} {mine or 0:9.2f} {key or ''} = {100 * v:5.1f}% of {k[3:]}")
    return out + errors(rows)


def train_section(logs):
    rows = bench_rows(logs, "bench_cuda_train_step")
    peer_text = read(os.path.join(logs, "pytorch_train_step.json"))
    try:
        peer = json.loads(peer_text) if peer_text else {}
    except json.JSONDecodeError:
        peer = {}
    out = ["## train step" + (f" (PyTorch {peer.get('torch')}, cuDNN {peer.get('cudnn')})"
                              if peer else " (no PyTorch figures)")]
    if rows is None:
        return out + [no_json(logs, "bench_cuda_train_step")]
    out.append(f"  {'case':22s} {'motive img/s':>12s} {'PyTorch img/s (layout)':>28s} {'ratio':>6s}"
               f" | {'peak MiB: motive (tensors)':>26s} {'PyTorch':>8s} {'ratio':>6s}")
    for r in rows:
        if r.get("error_occurred") or "images/s" not in r:
            continue
        label = r.get("label", r["name"])
        mine, mem = r["images/s"], r.get("pool_peak_MiB", 0)
        best = peer.get("best", {}).get(label.split()[-1], {})
        theirs, their_mem = best.get("images_per_s"), best.get("peak_allocated_MiB")
        peer_cell = f"{theirs:.0f} ({best.get('layout')})" if theirs else "n/a"
        out.append(f"  {label:22s} {mine:12.0f} {peer_cell:>28s} "
                   f"{mine / theirs if theirs else float('nan'):6.2f} | "
                   f"{mem:19.0f} ({r.get('peak_MiB', 0):4.0f}) {their_mem or float('nan'):8.0f} "
                   f"{mem / their_mem if their_mem else float('nan'):6.2f}")
    return out + errors(rows)


def fallback_section(logs):
    """conv2d's "using the direct kernel" lines, once each, with the logs that have them."""
    seen = {}
    for name in sorted(os.listdir(logs)):
        if name.endswith(".log"):
            for line in (read(os.path.join(logs, name)) or "").splitlines():
                if "using the direct kernel" in line:
                    seen.setdefault(line.strip(), []).append(name[:-4])
    if not seen:
        return ["## conv2d fallbacks to the direct kernel: none"]
    return ["## conv2d fallbacks to the direct kernel (slow; cuDNN had no algorithm):"] + [
        f"  {line}  [{', '.join(names)}]" for line, names in seen.items()]


def main():
    logs = sys.argv[1]
    lines = ["", "================ GPU check summary ================"]
    gpu = (read(os.path.join(logs, "gpu.txt")) or "unknown").strip().splitlines()
    lines.append("GPU: " + (gpu[0] if gpu else "unknown"))
    tests, failed = tests_section(logs)
    lines += tests
    benches = status_rows(logs, "benches.tsv")
    bad = [f"{n} ({exit_word(rc)})" for n, rc in benches if rc != 0]
    lines.append("## benches run: " + ", ".join(n for n, _ in benches)
                 + (f"; FAILED: {', '.join(bad)}" if bad else ""))
    lines += ops_section(logs)
    for name, _ in benches:
        if name.startswith("bench_cuda_") and name not in ("bench_cuda_ops", "bench_cuda_train_step"):
            lines += peer_section(logs, name)
    lines += train_section(logs)
    lines += fallback_section(logs)
    lines.append(f"RESULT: {'PASS' if failed == 0 else 'FAIL'} "
                 f"({failed} failing test binaries; full logs in {logs})")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

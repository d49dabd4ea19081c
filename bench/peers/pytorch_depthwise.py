#!/usr/bin/env python3
"""PyTorch CPU peer of bench/bench_efficientnet.cpp's Depthwise rows.

Each distinct depthwise convolution of EfficientNet-B0 at 224x224, batch 8
(the same list as kDepthwise there): torch.nn.functional.conv2d with
groups = C, padding k // 2, no bias, forward then backward of a fixed output
gradient into the input and the filter (both require grad; their gradients
accumulate from step to step, one addition each, as motive's do). PyTorch is
measured at its best: each layer runs in NCHW and in channels_last (the layout
motive's NHWC matches) and the faster is reported. Threads: --threads
(torch.set_num_threads), 2 by default, as motive's bench on the 2-core machine.

Prints one JSON object: per layer the milliseconds of one forward + backward
(the median of --repeats timed runs of --steps steps each, after a warm-up).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from report import write_report

# (input side, channels, kernel, stride, blocks of B0 with this layer)
LAYERS = [(112, 32, 3, 1, 1), (112, 96, 3, 2, 1), (56, 144, 3, 1, 1), (56, 144, 5, 2, 1),
          (28, 240, 5, 1, 1), (28, 240, 3, 2, 1), (14, 480, 3, 1, 2), (14, 480, 5, 1, 1),
          (14, 672, 5, 1, 2), (14, 672, 5, 2, 1), (7, 1152, 5, 1, 3), (7, 1152, 3, 1, 1)]
BATCH = 8


def measure(layer, fmt, args):
    hw, c, k, stride, _ = layer
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, c, hw, hw, generator=g).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(c, 1, k, k, generator=g).contiguous(memory_format=fmt).requires_grad_()
    with torch.no_grad():
        seed = torch.randn_like(F.conv2d(x, w, None, stride, k // 2, 1, c))

    def step():
        F.conv2d(x, w, None, stride, k // 2, 1, c).backward(seed)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        times.append((time.perf_counter() - start) / args.steps)
    return 1e3 * statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for i, layer in enumerate(LAYERS):
        ms = {name: measure(layer, fmt, args)
              for name, fmt in (("nchw", torch.contiguous_format),
                                ("channels_last", torch.channels_last))}
        best = min(ms, key=ms.get)
        rows.append({"layer": i, "shape": layer[:4], "blocks": layer[4], "ms": ms[best],
                     "layout": best, "ms_by_layout": ms})
    report = {"torch": torch.__version__, "threads": args.threads, "batch": BATCH, "layers": rows}
    write_report(report, args.out, indent=1)


if __name__ == "__main__":
    main()

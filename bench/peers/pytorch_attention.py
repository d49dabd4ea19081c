#!/usr/bin/env python3
"""PyTorch CPU peer of bench/bench_attention.cpp.

torch.nn.functional.scaled_dot_product_attention forward + backward, float32,
on the CPU with torch.set_num_threads(2) (the threads motive's OpenMP uses on
the project's 2-core machine), at the bench's shapes. The inputs are laid out
as a ViT block makes them (timm's Attention): q, k and v are strided views
[B, H, T, Dh] of one [B, T, 3, H, Dh] projection output that requires grad,
so the backward writes dq, dk, dv into that buffer's gradient, as motive's
does. The output gradient is a fixed random tensor. One iteration is
forward, backward(seed), and clearing the buffer's gradient (set to None).

The backend PyTorch picks (printed) is its CPU flash-attention kernel when
the inputs allow it. The time per iteration is the median of --repeats runs
of --iters iterations each, after a warm-up: "ms" by the wall clock, "cpu_ms"
the process's CPU time (all threads; what other jobs on a shared machine
disturb less, when OpenMP threads wait passively).

Prints one JSON object: {"torch": version, "threads": n, "backend": the SDPA
backend PyTorch picks, "rows": [{"b", "h", "t", "dh", "ms", "cpu_ms"}, ...]}.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from report import write_report

SHAPES = ((32, 3, 65, 64), (8, 6, 197, 64))  # (B, H, T, Dh), the bench's


def time_shape(b, h, t, dh, iters, repeats):
    gen = torch.Generator().manual_seed(0)
    qkv = torch.rand(b, t, 3, h, dh, generator=gen) * 2 - 1
    qkv.requires_grad_()
    seed = torch.rand(b, h, t, dh, generator=gen) * 2 - 1

    def step():
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        F.scaled_dot_product_attention(q, k, v).backward(seed)
        qkv.grad = None

    for _ in range(max(3, iters // 4)):
        step()
    wall, cpu = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(iters):
            step()
        wall.append((time.perf_counter() - start) / iters * 1e3)
        cpu.append((time.process_time() - cpu_start) / iters * 1e3)
    return {"b": b, "h": h, "t": t, "dh": dh, "ms": statistics.median(wall),
            "cpu_ms": statistics.median(cpu)}


def backend(b, h, t, dh):
    """The name of the SDPA backend PyTorch picks for these inputs."""
    q = torch.zeros(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)[0].requires_grad_()
    choice = torch._fused_sdp_choice(q, q, q)
    members = torch.nn.attention.SDPBackend.__members__.items()
    return next((name for name, m in members if m.value == choice), str(choice))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [time_shape(*shape, args.iters, args.repeats) for shape in SHAPES]
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "backend": backend(*SHAPES[0]), "rows": rows}
    write_report(result, args.out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch eager peer of bench/bench_cuda_train_step.cpp (and, on the CPU, of
bench/bench_efficientnet.cpp's TrainStep rows).

The same train step on the same GPU: torchvision's ResNet with the CIFAR stem
(conv1 -> 3x3 stride 1 padding 1 without bias, max-pool removed; the projection
shortcuts and everything else as in motive's models/resnet/plan.h), 10
classes, the same fixed batch (formula below, no data loading), softmax
cross-entropy, torch.optim.SGD(lr 0.1, momentum 0.9, weight decay 5e-4),
zero_grad(set_to_none=True), float32 weights.

PyTorch is measured at its fastest, so each precision runs in both memory
layouts (NCHW and channels_last) and the faster one is the peer:
  fp32: TF32 off for cuDNN and cuBLAS (exact float32 arithmetic);
  tf32: TF32 on for both (PyTorch's default for convolutions);
  bf16: forward and loss under torch.autocast(bfloat16), TF32 off for what
        autocast leaves in float32 (as motive's bf16 row).
cudnn.benchmark is on (algorithm search per shape, as motive caches its
choice per shape). Steps run back to back; the clock stops after
torch.cuda.synchronize(). Peak memory is torch.cuda.max_memory_allocated()
over the timed steps, after reset_peak_memory_stats() following the warm-up.

The batch, shared with the C++ bench: with h(i) = (i * 2654435761) mod 2^32,
pixel i of the NHWC batch is h(i) / 2^32 * 2 - 1 and label j is
(h(j + 1) >> 16) mod classes.

EfficientNets (--model efficientnet-b<K>[x<W>], motive's names without the
other suffixes) are torchvision's efficientnet_b<K>, or its EfficientNet
class with the width coefficient times W, with the given classes, in training
mode (dropout and stochastic depth on, as motive's bench).
On the CPU, --threads sets torch.set_num_threads and --precisions fp32 skips
the GPU-only precisions.

Prints one JSON object (also written to --out when given). Needs only torch
and torchvision; --device cpu --batch 4 --seconds 0 is a quick smoke run.
"""
import argparse
import re
import time

import torch
import torch.nn.functional as F
import torchvision
from report import write_report


def knuth_hash(i):
    return (i * 2654435761) % (1 << 32)


def fixed_batch(batch, size, classes, device):
    n = batch * size * size * 3
    pixels = knuth_hash(torch.arange(n, dtype=torch.int64)).to(torch.float64) / 2**32 * 2 - 1
    x = pixels.to(torch.float32).reshape(batch, size, size, 3).permute(0, 3, 1, 2)
    y = (knuth_hash(torch.arange(1, batch + 1, dtype=torch.int64)) >> 16) % classes
    return x.contiguous().to(device), y.to(device)


def efficientnet(name, classes):
    """efficientnet-b<K>[x<W>]: torchvision's efficientnet_b<K>, or its stage list scaled by
    W more (the builders' width and depth coefficients and dropout)."""
    from functools import partial
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
    m = re.fullmatch(r"efficientnet-b([0-7])(?:x([0-9.]+))?", name)
    if not m:
        raise SystemExit(f"pytorch_train_step: unknown model {name!r}")
    k, mult = int(m.group(1)), m.group(2)
    if mult is None:
        return getattr(torchvision.models, f"efficientnet_b{k}")(num_classes=classes)
    width, depth, dropout = [(1.0, 1.0, 0.2), (1.0, 1.1, 0.2), (1.1, 1.2, 0.3), (1.2, 1.4, 0.3),
                             (1.4, 1.8, 0.4), (1.6, 2.2, 0.4), (1.8, 2.6, 0.5), (2.0, 3.1, 0.5)][k]
    setting, _ = _efficientnet_conf(f"efficientnet_b{k}", width_mult=width * float(mult),
                                    depth_mult=depth)
    norm = partial(torch.nn.BatchNorm2d, eps=1e-3, momentum=0.01) if k >= 5 else None
    return EfficientNet(setting, dropout, num_classes=classes, norm_layer=norm)


def build(name, classes):
    return efficientnet(name, classes) if name.startswith("efficientnet-") else resnet(name, classes)


def resnet(name, classes):
    """resnet18 / resnet34 / resnet50, '-cifar' for the CIFAR stem."""
    base, _, stem = name.partition("-")
    if base not in ("resnet18", "resnet34", "resnet50") or stem not in ("", "cifar"):
        raise SystemExit(f"pytorch_train_step: unknown model {name!r}")
    net = getattr(torchvision.models, base)(num_classes=classes)
    if stem == "cifar":
        net.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = torch.nn.Identity()
    return net


def set_tf32(on):
    """TF32 for cuDNN convolutions and cuBLAS matmuls, through the settings of
    PyTorch >= 2.9 when present (mixing them with the legacy flags is an error)."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        conv.fp32_precision = torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = on


def measure(args, precision, layout):
    set_tf32(precision == "tf32")
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.empty_cache()  # the previous run's blocks, so reserved memory starts afresh
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    net = build(args.model, args.classes).to(args.device, memory_format=fmt).train()
    x, y = fixed_batch(args.batch, args.size, args.classes, args.device)
    x = x.contiguous(memory_format=fmt)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16,
                            enabled=precision == "bf16"):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # Time whole chunks of steps until --seconds have passed (at least one chunk).
    steps, start = 0, time.perf_counter()
    while True:
        for _ in range(args.chunk):
            step()
        steps += args.chunk
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= args.seconds:
            break
    result = {
        "precision": precision,
        "layout": layout,
        "steps": steps,
        "images_per_s": args.batch * steps / elapsed,
        "ms_per_step": 1e3 * elapsed / steps,
        "peak_allocated_MiB": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "peak_reserved_MiB": torch.cuda.max_memory_reserved() / 2**20 if cuda else None,
    }
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet18-cifar")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--device", default="cuda")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--chunk", type=int, default=10, help="steps between clock reads")
    p.add_argument("--seconds", type=float, default=3.0, help="least timed seconds per run")
    p.add_argument("--precisions", default="fp32,tf32,bf16", help="comma-separated")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: as is)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    torch.backends.cudnn.benchmark = True
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    runs = [measure(args, precision, layout)
            for precision in args.precisions.split(",") for layout in ("nchw", "channels_last")]
    best = {}
    for r in runs:
        if r["precision"] not in best or r["images_per_s"] > best[r["precision"]]["images_per_s"]:
            best[r["precision"]] = r
    report = {
        "model": args.model, "size": args.size, "batch": args.batch, "classes": args.classes,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
        "runs": runs, "best": best,
    }
    write_report(report, args.out, indent=1)


if __name__ == "__main__":
    main()

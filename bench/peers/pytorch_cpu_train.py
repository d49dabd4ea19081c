#!/usr/bin/env python3
"""PyTorch CPU peer of motive's CPU training: the train step and the main job.

A model name starting with vit- is timm's VisionTransformer as tools/golden.py
builds it for that name (step mode only); the rest of this header describes
the ResNets.

The models are motive's CIFAR-family ResNets (models/resnet/plan.h): a 3x3
stride-1 stem conv without bias, BN and relu; stages of basic blocks (the
first block of stages after the first has stride 2 on its first conv);
projection shortcuts (1x1 conv + BN) wherever the shape changes; global
average pooling and a linear classifier. resnet<D> has 3 stages of (D-2)/6
blocks, widths 16/32/64 (x<W> scales them, rounded half away from zero);
resnet18-cifar has 4 stages of 2 blocks, widths 64/128/256/512. Init as
motive's and torchvision's: Kaiming normal (fan_out, relu gain) convs, BN
gamma 1 and beta 0, PyTorch's Linear default for the classifier. float32,
torch.set_num_threads(--threads), PyTorch's oneDNN CPU kernels.

  step MODEL: one training step on a fixed batch (randn input, labels i % 10):
    zero_grad(set_to_none), forward, cross-entropy, backward,
    torch.optim.SGD(lr 0.1, momentum 0.9, weight decay 5e-4 on conv and linear
    weights only); in both memory layouts (NCHW and channels_last), after
    warm-up steps; prints the faster layout's images/s (motive's
    bench_train_step times the same step).
  job: motive's main job, `trainer train` with no flags on a CPU: resnet20x0.5
    nested in resnet20 (the base's parameters are the leading slices of the
    motivated model's, its BN running statistics its own), policy
    loss-decrease:1 + steps:1, 3 epochs of batch 128 over the first 12,000
    Fashion-MNIST training images (the last partial batch kept), pad-2 random
    crop + horizontal flip + normalisation (0.2860, 0.3530), SGD momentum 0.9,
    weight decay 5e-4 except norms and biases, one-cycle LR peaking at 0.1
    (PyTorch's OneCycleLR shape, no momentum cycling). Each step updates only
    the elements of the model that ran (the base's slices on a base step),
    like motive's optimizer. Images/s = training images / time in the
    training loop (data, forward, backward, update; not evaluation), as
    motive's summary.json; the test accuracies on the first 2,000 test images
    are printed per epoch.

Prints one JSON object on the last line. Needs torch only (and the Debian
dataset-fashion-mnist files for `job`).
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F
from report import write_report


def round_half_away(x):
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def preset(name):
    """(depths, widths) of motive's CIFAR-stem presets used here."""
    base, _, scale = name.partition("x")
    if name == "resnet18-cifar":
        return [2, 2, 2, 2], [64, 128, 256, 512]
    depth = int(base.removeprefix("resnet"))
    n = (depth - 2) // 6
    widths = [16, 32, 64]
    if scale:
        widths = [max(1, round_half_away(w * float(scale))) for w in widths]
    return [n, n, n], widths


class ResNet:
    """Parameters as a dict of tensors, so a nested base model can run on
    leading slices of a bigger model's parameters."""

    def __init__(self, name, in_ch, classes, gen):
        self.depths, self.widths = preset(name)
        self.in_ch, self.classes = in_ch, classes
        self.params, self.buffers = {}, {}
        self.convs = []  # (prefix, in, out, kernel, stride)
        self.plan = []
        self._conv_bn("stem", in_ch, self.widths[0], 3, 1, gen)
        c = self.widths[0]
        for s, (d, w) in enumerate(zip(self.depths, self.widths)):
            for b in range(d):
                stride = 2 if s > 0 and b == 0 else 1
                p = f"stages.{s}.blocks.{b}."
                self._conv_bn(p + "conv1", c, w, 3, stride, gen)
                self._conv_bn(p + "conv2", w, w, 3, 1, gen)
                shortcut = stride != 1 or c != w
                if shortcut:
                    self._conv_bn(p + "shortcut", c, w, 1, stride, gen)
                self.plan.append((p, stride, shortcut))
                c = w
        bound = 1 / math.sqrt(c)
        self.params["fc.weight"] = torch.empty(classes, c).uniform_(-bound, bound, generator=gen)
        self.params["fc.bias"] = torch.empty(classes).uniform_(-bound, bound, generator=gen)
        for t in self.params.values():
            t.requires_grad_(True)

    def _conv_bn(self, prefix, cin, cout, k, stride, gen):
        std = math.sqrt(2.0 / (cout * k * k))  # Kaiming normal, fan_out, relu
        self.params[prefix + ".weight"] = torch.randn(cout, cin, k, k, generator=gen) * std
        self.params[prefix + ".bn.weight"] = torch.ones(cout)
        self.params[prefix + ".bn.bias"] = torch.zeros(cout)
        self.buffers[prefix + ".bn.mean"] = torch.zeros(cout)
        self.buffers[prefix + ".bn.var"] = torch.ones(cout)

    def to_layout(self, fmt):
        for k, t in self.params.items():
            if t.dim() == 4:
                self.params[k] = t.detach().contiguous(memory_format=fmt).requires_grad_(True)

    def shape_of(self, name):
        """The shape of a parameter or buffer in this model."""
        t = self.params.get(name)
        return (t if t is not None else self.buffers[name]).shape

    def forward(self, x, training, params=None, buffers=None):
        """params/buffers: name -> tensor (default: this model's own)."""
        p = params or self.params
        b = buffers or self.buffers

        def conv_bn(name, h, stride, pad):
            h = F.conv2d(h, p[name + ".weight"], None, stride, pad)
            return F.batch_norm(h, b[name + ".bn.mean"], b[name + ".bn.var"],
                                p[name + ".bn.weight"], p[name + ".bn.bias"], training, 0.1, 1e-5)

        h = F.relu(conv_bn("stem", x, 1, 1))
        for prefix, stride, shortcut in self.plan:
            y = F.relu(conv_bn(prefix + "conv1", h, stride, 1))
            y = conv_bn(prefix + "conv2", y, 1, 1)
            skip = conv_bn(prefix + "shortcut", h, stride, 0) if shortcut else h
            h = F.relu(y + skip)
        h = h.mean(dim=(2, 3))
        return F.linear(h, p["fc.weight"], p["fc.bias"])

    def decays(self, name):
        return name.endswith(".weight") and ".bn." not in name


def fixed_batch(batch, size, channels, classes, gen):
    x = torch.randn(batch, channels, size, size, generator=gen)
    y = torch.arange(batch) % classes
    return x, y


def vit(name, channels, size):
    """timm's VisionTransformer for a motive ViT name (tools/golden.py builds it):
    (forward, named parameters, decays) with motive's weight-decay rule, timm's
    no_weight_decay (not norms, biases, the class token, the position embedding)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
    from golden import build_vit
    net = build_vit(name, channels, 10, size).train()
    params = dict(net.named_parameters())
    decays = lambda k: params[k].ndim >= 2 and k not in ("cls_token", "pos_embed")
    return (lambda x: net(x)), params, decays


def step_bench(args):
    results = {}
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        gen = torch.Generator().manual_seed(0)
        if args.model.startswith("vit-"):
            forward, params, decays = vit(args.model, args.channels, args.size)
        else:
            net = ResNet(args.model, args.channels, 10, gen)
            net.to_layout(fmt)
            forward, params, decays = (lambda x: net.forward(x, True)), net.params, net.decays
        decay = [t for k, t in params.items() if decays(k)]
        rest = [t for k, t in params.items() if not decays(k)]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                               {"params": rest, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
        x, y = fixed_batch(args.batch, args.size, args.channels, 10, gen)
        x = x.contiguous(memory_format=fmt)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(forward(x), y).backward()
            opt.step()

        for _ in range(args.warmup):
            step()
        start = time.perf_counter()
        steps = 0
        while steps < args.min_steps or time.perf_counter() - start < args.seconds:
            step()
            steps += 1
        results[layout] = args.batch * steps / (time.perf_counter() - start)
    best = max(results, key=results.get)
    return {"model": args.model, "batch": args.batch, "size": args.size,
            "threads": torch.get_num_threads(), "images_per_second": results[best],
            "layout": best, "by_layout": results}


def read_idx(path, limit):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    count = min(dims[0], limit)
    item = math.prod(dims[1:])
    body = raw[4 + 4 * ndim:4 + 4 * ndim + count * item]
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(count, *dims[1:])


def one_cycle(step, total, max_lr, pct=0.3, div=25.0, final_div=1e4):
    """motive's OneCycleLR (engine/schedule.cpp), PyTorch's formula."""
    initial, minimum = max_lr / div, max_lr / div / final_div
    peak = pct * total - 1.0
    s = float(min(step, total - 1))

    def cos(a, b, f):
        return b + (a - b) / 2.0 * (math.cos(math.pi * f) + 1.0)

    if s <= peak:
        return cos(initial, max_lr, s / peak)
    return cos(max_lr, minimum, (s - peak) / (total - 1 - peak))


def job(args):
    root = "/usr/share/datasets/fashion-mnist"
    mean, std = 0.2860, 0.3530
    train_x = read_idx(f"{root}/train-images-idx3-ubyte.gz", args.limit_train)
    train_y = read_idx(f"{root}/train-labels-idx1-ubyte.gz", args.limit_train).long()
    test_x = read_idx(f"{root}/t10k-images-idx3-ubyte.gz", args.limit_test)
    test_y = read_idx(f"{root}/t10k-labels-idx1-ubyte.gz", args.limit_test).long()
    n, batch, epochs = train_x.shape[0], 128, 3
    steps_per_epoch = (n + batch - 1) // batch
    total = steps_per_epoch * epochs
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format

    gen = torch.Generator().manual_seed(args.seed)
    big = ResNet("resnet20", 1, 10, gen)
    big.to_layout(fmt)
    small = ResNet("resnet20x0.5", 1, 10, torch.Generator().manual_seed(args.seed))
    # The base's parameters: leading slices of the motivated model's; its own BN buffers.
    def region(name, shape):
        return tuple(slice(0, s) for s in shape)
    base_regions = {k: region(k, small.shape_of(k)) for k in small.params}
    momentum = {k: torch.zeros_like(t) for k, t in big.params.items()}

    def views(base):
        return {k: (big.params[k][base_regions[k]] if base else big.params[k]) for k in big.params}

    def update(base, lr):
        names = list(big.params)
        with torch.no_grad():
            ps = [big.params[k][base_regions[k]] if base else big.params[k] for k in names]
            gs = [big.params[k].grad[base_regions[k]] if base else big.params[k].grad
                  for k in names]
            bs = [momentum[k][base_regions[k]] if base else momentum[k] for k in names]
            d = [g.add(p, alpha=5e-4) if big.decays(k) else g
                 for k, p, g in zip(names, ps, gs)]
            torch._foreach_mul_(bs, 0.9)
            torch._foreach_add_(bs, d)
            torch._foreach_add_(ps, bs, alpha=-lr)

    def augment(idx, epoch_gen):
        x = train_x[idx].float().div_(255.0)
        b = x.shape[0]
        padded = F.pad(x, (2, 2, 2, 2))
        oy = torch.randint(0, 5, (b,), generator=epoch_gen)
        ox = torch.randint(0, 5, (b,), generator=epoch_gen)
        ar = torch.arange(28)
        rows = (oy[:, None] + ar)[:, :, None]
        cols = (ox[:, None] + ar)[:, None, :]
        x = padded[torch.arange(b)[:, None, None], rows, cols]
        flip = torch.rand(b, generator=epoch_gen) < 0.5
        x = torch.where(flip[:, None, None], x.flip(-1), x)
        x = ((x - mean) / std).unsqueeze(1)
        return x.contiguous(memory_format=fmt)

    def accuracy(base):
        with torch.no_grad():
            correct = 0
            for i in range(0, test_x.shape[0], 256):
                x = ((test_x[i:i + 256].float() / 255.0 - mean) / std).unsqueeze(1)
                x = x.contiguous(memory_format=fmt)
                if base:
                    logits = small.forward(x, False, views(True), small.buffers)
                else:
                    logits = big.forward(x, False)
                correct += (logits.argmax(1) == test_y[i:i + 256]).sum().item()
        return 100.0 * correct / test_x.shape[0]

    streak, prev, remaining, step = 0, None, 0, 0
    train_seconds, motivated_steps, activations = 0.0, 0, 0
    epochs_out = []
    for epoch in range(epochs):
        epoch_gen = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        order = torch.randperm(n, generator=epoch_gen)
        for s in range(steps_per_epoch):
            start = time.perf_counter()
            idx = order[s * batch:(s + 1) * batch]
            x, y = augment(idx, epoch_gen), train_y[idx]
            if remaining == 0 and streak >= 1:  # loss-decrease:1 -> an activation of steps:1
                remaining, streak = 1, 0
                activations += 1
            motivated = remaining > 0
            lr = one_cycle(step, total, 0.1)
            for t in big.params.values():
                t.grad = None
            if motivated:
                loss = F.cross_entropy(big.forward(x, True), y)
            else:
                loss = F.cross_entropy(small.forward(x, True, views(True), small.buffers), y)
            loss.backward()
            update(not motivated, lr)
            value = loss.item()
            if motivated:
                remaining -= 1
                motivated_steps += 1
            else:
                streak = streak + 1 if prev is not None and value < prev else 0
                prev = value
            step += 1
            train_seconds += time.perf_counter() - start
        acc = (accuracy(True), accuracy(False))
        epochs_out.append({"epoch": epoch + 1, "acc_base": acc[0], "acc_motivated": acc[1],
                           "motivated_steps": motivated_steps})
        print(f"epoch {epoch + 1}/{epochs}: test accuracy resnet20x0.5 {acc[0]:.2f}%, "
              f"resnet20 {acc[1]:.2f}%; {motivated_steps} motivated steps of {step}", flush=True)
    return {"job": "resnet20x0.5 in resnet20, loss-decrease:1", "layout": args.layout,
            "threads": torch.get_num_threads(), "steps": step, "motivated_steps": motivated_steps,
            "activations": activations, "train_seconds": train_seconds,
            "images_per_second": n * epochs / train_seconds, "epochs": epochs_out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["step", "job"])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-steps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--layout", choices=["nchw", "channels_last"], default="nchw")
    ap.add_argument("--limit-train", type=int, default=12000)
    ap.add_argument("--limit-test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = step_bench(args) if args.mode == "step" else job(args)
    write_report(result, args.out)


if __name__ == "__main__":
    main()

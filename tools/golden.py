#!/usr/bin/env python3
"""Golden files from PyTorch, and a check of motive's PyTorch exports.

Run where PyTorch, torchvision and timm are installed (never in CI):
    PY=$(bash tools/peer-env.sh | tail -n 1)
    $PY tools/golden.py                       # writes tests/golden/<family>.safetensors
    $PY tools/golden.py --check-export FILE   # a `trainer export --format torch` file

Golden files: for a tiny config of each family, the module PyTorch's own
libraries build (torchvision's ResNet blocks; timm's VisionTransformer;
torchvision's EfficientNet with a shortened inverted_residual_setting) is
initialised from a fixed seed, and the file holds, in motive's names and
layouts, its initial weights ("motive.<name>") and the same weights in
PyTorch's ("torch.<name>", what motive's torch_state_dict() must reproduce),
an input batch and labels, the training-mode logits, every parameter's
gradient of the mean cross-entropy ("grad.<name>"), and the losses of 5 SGD
steps (lr 0.1, momentum 0.9, no weight decay) on 5 more batches. Inputs are
NHWC as motive's. tests/test_golden.cpp compares motive against them (fp32,
relative error < 1e-4; absolute where the reference is 0). Each file is a few
hundred kB.

A gradient that is zero in exact arithmetic is written as exact zeros, since
PyTorch's float32 value is rounding noise that no other implementation
reproduces: the tool finds them by the same backward in float64 (norm below
1e-12 of the largest). EfficientNet has such: a projection BN's bias feeds,
through residual additions, only 1x1 convs followed by training-mode BNs,
which remove any per-channel constant.

--check-export loads the file into the PyTorch module its metadata names
(load_state_dict(strict=True)) and prints its test accuracy on the data set
it was trained on (Fashion-MNIST or MNIST, from Debian's IDX files or
--data-root), as `trainer eval` measures it (normalised, not augmented).
"""
import argparse
import copy
import gzip
import os
import re
import struct
import sys

import numpy as np
import timm
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file
from functools import partial
from torchvision.models.efficientnet import EfficientNet, MBConvConfig
from torchvision.models.resnet import BasicBlock, Bottleneck

GOLDEN_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
# name, in_channels, classes, image side, batch
GOLDEN_CASES = {
    "resnet": ("resnet20x0.25", 3, 10, 16, 4),
    "vit": ("vit-ti-p4-16-d2-h2-hd16", 3, 10, 16, 4),  # 2 blocks, 2 heads, 32 dims, patch 4
    # 3 stages of B0 at a quarter of its widths (stem 8; 8, 8, 16; head 64), no dropout or
    # stochastic depth
    "efficientnet": ("efficientnet-b0x0.25-s3-do0-sd0", 3, 10, 32, 4),
}
STEPS, LR, MOMENTUM = 5, 0.1, 0.9


# ---- models/resnet: names -> torchvision-style modules ----

def parse_resnet(name):
    """motive's grammar (models/resnet/config.h) -> (block, stem, stem width, depths, widths)."""
    m = re.fullmatch(r"resnet(\d+)(?:x([0-9.]+))?(-cifar)?", name)
    if not m:
        raise SystemExit(f"golden: not a ResNet name: {name}")
    depth, mult, cifar_stem = int(m.group(1)), float(m.group(2) or 1), m.group(3)
    if depth in (18, 34, 50):
        block = Bottleneck if depth == 50 else BasicBlock
        depths = [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
        stem, stem_width, widths = ("cifar" if cifar_stem else "imagenet"), 64, [64, 128, 256, 512]
    else:
        n = (depth - 2) // 6
        block, depths, stem, stem_width, widths = BasicBlock, [n] * 3, "cifar", 16, [16, 32, 64]
    scale = lambda w: max(1, int(np.floor(w * mult + 0.5)))  # half away from zero, as motive
    return block, stem, scale(stem_width), depths, [scale(w) for w in widths]


class ResNet(torch.nn.Module):
    """torchvision's ResNet with free stem/stage widths and any number of stages:
    the same module names (conv1, bn1, layer<i>.<b>.{conv,bn}<j>, .downsample.0/1,
    fc), so torchvision's resnet18/34/50 state dicts load into it and back."""

    def __init__(self, block, stem, stem_width, depths, widths, in_channels, classes):
        super().__init__()
        k, s = (7, 2) if stem == "imagenet" else (3, 1)
        self.conv1 = torch.nn.Conv2d(in_channels, stem_width, k, s, k // 2, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(stem_width)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else torch.nn.Identity()
        inplanes = stem_width
        for i, (d, w) in enumerate(zip(depths, widths)):
            layers = []
            for b in range(d):
                stride = 2 if i > 0 and b == 0 else 1
                down = None
                if stride != 1 or inplanes != w * block.expansion:
                    down = torch.nn.Sequential(
                        torch.nn.Conv2d(inplanes, w * block.expansion, 1, stride, bias=False),
                        torch.nn.BatchNorm2d(w * block.expansion))
                layers.append(block(inplanes, w, stride, down))
                inplanes = w * block.expansion
            setattr(self, f"layer{i + 1}", torch.nn.Sequential(*layers))
        self.stages = len(depths)
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def check_resnet_matches_torchvision():
    """The module above is torchvision's ResNet: its resnet18/34/50 state dicts load both ways."""
    for name in ("resnet18", "resnet34", "resnet50"):
        ours = ResNet(*parse_resnet(name), 3, 1000)
        theirs = getattr(torchvision.models, name)()
        ours.load_state_dict(theirs.state_dict(), strict=True)
        theirs.load_state_dict(ours.state_dict(), strict=True)


def build_resnet(name, in_channels, classes):
    block, stem, stem_width, depths, widths = parse_resnet(name)
    if name in ("resnet18", "resnet34", "resnet50") and in_channels == 3:
        return getattr(torchvision.models, name)(num_classes=classes)  # torchvision's own
    return ResNet(block, stem, stem_width, depths, widths, in_channels, classes)


def resnet_motive_name(torch_name):
    """torchvision's name -> motive's (models/resnet/resnet.h), or None for num_batches_tracked."""
    if torch_name.endswith("num_batches_tracked"):
        return None
    n = torch_name
    n = re.sub(r"^conv1\.", "stem.conv.", n)
    n = re.sub(r"^bn1\.", "stem.bn.", n)
    n = re.sub(r"^fc\.", "head.fc.", n)
    n = n.replace("downsample.0.", "shortcut.conv.").replace("downsample.1.", "shortcut.bn.")
    m = re.match(r"layer(\d+)\.(\d+)\.(.*)", n)
    if m:
        n = f"stages.{int(m.group(1)) - 1}.blocks.{m.group(2)}.{m.group(3)}"
    return n


# ---- models/vit: names -> timm's VisionTransformer ----

def parse_vit(name, image):
    """motive's grammar (models/vit/config.h) -> timm's VisionTransformer kwargs."""
    parts = name.split("-")
    heads = {"ti": 3, "s": 6, "b": 12}[parts[1]]
    cfg = dict(patch=16, image=image, depth=12, heads=heads, head_dim=64, do=0.0, dp=0.0)
    for p in parts[2:]:
        if p.isdigit():
            cfg["image"] = int(p)
        elif p.startswith("hd"):
            cfg["head_dim"] = int(p[2:])
        elif p[:2] in ("do", "dp"):
            cfg[p[:2]] = float(p[2:])
        else:
            cfg[{"p": "patch", "d": "depth", "h": "heads"}[p[0]]] = int(p[1:])
    return cfg


def build_vit(name, in_channels, classes, image):
    c = parse_vit(name, image)
    dim = c["heads"] * c["head_dim"]
    return timm.models.vision_transformer.VisionTransformer(
        img_size=c["image"], patch_size=c["patch"], in_chans=in_channels, num_classes=classes,
        embed_dim=dim, depth=c["depth"], num_heads=c["heads"], mlp_ratio=4.0, qkv_bias=True,
        proj_drop_rate=c["do"], drop_path_rate=c["dp"])


# ---- models/efficientnet: names -> torchvision's EfficientNet ----

# torchvision's efficientnet_b0 ... b7: width and depth coefficients, dropout.
EFFICIENTNET_VARIANTS = [(1.0, 1.0, 0.2), (1.0, 1.1, 0.2), (1.1, 1.2, 0.3), (1.2, 1.4, 0.3),
                         (1.4, 1.8, 0.4), (1.6, 2.2, 0.4), (1.8, 2.6, 0.5), (2.0, 3.1, 0.5)]
# B0's stages: expand ratio, kernel, stride, input channels, output channels, blocks.
EFFICIENTNET_B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1)]


def parse_efficientnet(name):
    """motive's grammar (models/efficientnet/config.h) -> the EfficientNet arguments."""
    m = re.fullmatch(r"efficientnet-b([0-7])(?:x([0-9.]+))?((?:-(?:do|sd|d|s)[0-9.]+)*)", name)
    if not m:
        raise SystemExit(f"golden: not an EfficientNet name: {name}")
    k = int(m.group(1))
    width, depth, dropout = EFFICIENTNET_VARIANTS[k]
    cfg = dict(variant=k, width=width * float(m.group(2) or 1), depth=depth, stages=7,
               dropout=dropout, sd=0.2)
    for part in m.group(3).split("-")[1:]:
        key = re.match(r"[a-z]+", part).group(0)
        value = part[len(key):]
        if key == "d":
            cfg["depth"] = depth * float(value)
        elif key == "s":
            cfg["stages"] = int(value)
        else:
            cfg[{"do": "dropout", "sd": "sd"}[key]] = float(value)
    return cfg


def build_efficientnet(name, in_channels, classes):
    """torchvision's EfficientNet for a motive name: efficientnet_b<K> itself when the name is
    a plain variant, else the class with the scaled, possibly shortened stage list. For another
    number of input channels the stem conv is replaced by one of the same shape but its input
    (torchvision's init)."""
    c = parse_efficientnet(name)
    k = c["variant"]
    plain = re.fullmatch(r"efficientnet-b[0-7]", name) is not None
    if plain:
        model = getattr(torchvision.models, f"efficientnet_b{k}")(num_classes=classes)
    else:
        setting = [MBConvConfig(*s, width_mult=c["width"], depth_mult=c["depth"])
                   for s in EFFICIENTNET_B0[:c["stages"]]]
        norm = partial(torch.nn.BatchNorm2d, eps=1e-3, momentum=0.01) if k >= 5 else None
        model = EfficientNet(setting, c["dropout"], stochastic_depth_prob=c["sd"],
                             num_classes=classes, norm_layer=norm)
    if in_channels != 3:
        old = model.features[0][0]
        stem = torch.nn.Conv2d(in_channels, old.out_channels, 3, 2, 1, bias=False)
        torch.nn.init.kaiming_normal_(stem.weight, mode="fan_out")
        model.features[0][0] = stem
    return model


def check_efficientnet_matches_torchvision():
    """The module above for b0 ... b7 built through the stage list is torchvision's own: the
    state dicts load both ways."""
    for k in range(8):
        theirs = getattr(torchvision.models, f"efficientnet_b{k}")()
        ours = build_efficientnet(f"efficientnet-b{k}x1", 3, 1000)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        theirs.load_state_dict(ours.state_dict(), strict=True)


def efficientnet_motive_names(model):
    """torchvision's names -> motive's (models/efficientnet/plan.h), for the prefixes of
    `model`'s layers."""
    names = {"features.0.0.": "stem.conv.", "features.0.1.": "stem.bn.",
             "classifier.1.": "head.fc."}
    stages = list(model.features)[1:-1]
    for s, stage in enumerate(stages):
        for b, block in enumerate(stage):
            layers = ["expand", "depthwise", "se", "project"][4 - len(block.block):]
            for j, layer in enumerate(layers):
                torch_prefix = f"features.{s + 1}.{b}.block.{j}."
                motive_prefix = f"stages.{s}.blocks.{b}.{layer}."
                if layer == "se":
                    names[torch_prefix] = motive_prefix
                else:
                    names[torch_prefix + "0."] = motive_prefix + "conv."
                    names[torch_prefix + "1."] = motive_prefix + "bn."
    head = len(stages) + 1
    names[f"features.{head}.0."] = "head.conv."
    names[f"features.{head}.1."] = "head.bn."
    return names


def efficientnet_to_motive(model, torch_name, t):
    if torch_name.endswith("num_batches_tracked"):
        return None, None
    for prefix, motive in efficientnet_motive_names(model).items():
        if torch_name.startswith(prefix):
            name = motive + torch_name[len(prefix):]
            if ".se." in name and t.dim() == 4:  # [out, in, 1, 1] -> linear [out, in]
                return name, t.reshape(t.shape[0], t.shape[1])
            return name, (t.permute(0, 2, 3, 1) if t.dim() == 4 else t)  # OIHW -> OHWI
    raise SystemExit(f"golden: no motive name for {torch_name}")


def build(name, in_channels, classes, image):
    if name.startswith("resnet"):
        return build_resnet(name, in_channels, classes)
    if name.startswith("vit-"):
        return build_vit(name, in_channels, classes, image)
    if name.startswith("efficientnet-"):
        return build_efficientnet(name, in_channels, classes)
    raise SystemExit(f"golden: no PyTorch module for {name}")


def to_motive(name, model, torch_name, t):
    """One tensor of a PyTorch state dict in motive's name and layout (None: not in motive)."""
    if name.startswith("efficientnet-"):
        return efficientnet_to_motive(model, torch_name, t)
    if name.startswith("resnet"):
        motive = resnet_motive_name(torch_name)
        if motive is None:
            return None, None
        return motive, (t.permute(0, 2, 3, 1) if t.dim() == 4 else t)  # OIHW -> OHWI
    if torch_name == "patch_embed.proj.weight":
        return torch_name, t.permute(0, 2, 3, 1)
    if ".attn.qkv." in torch_name:  # [3D(, D)] -> [3, D(, D)]: q, k, v as separate blocks
        return torch_name, t.reshape(3, t.shape[0] // 3, *t.shape[1:])
    return torch_name, t


def nhwc(x):
    return x.permute(0, 2, 3, 1).contiguous()


def exactly_zero_gradients(model, x, y):
    """Names of the parameters whose gradient (mean cross-entropy on x, y) is zero in exact
    arithmetic: below 1e-12 of the largest gradient norm in float64."""
    wide = copy.deepcopy(model).double().train()
    F.cross_entropy(wide(x.double()), y).backward()
    norms = {k: p.grad.norm().item() for k, p in wide.named_parameters()}
    largest = max(norms.values())
    return {k for k, n in norms.items() if n <= 1e-12 * largest}


def write_golden(family, out_dir):
    name, in_channels, classes, image, batch = GOLDEN_CASES[family]
    torch.manual_seed(0)
    model = build(name, in_channels, classes, image).float().train()
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, in_channels, image, image, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    zero = exactly_zero_gradients(model, x, y)
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    tensors = {"input": nhwc(x), "labels": y.to(torch.int32), "logits": logits.detach()}
    for k, v in initial.items():
        tensors["torch." + k] = v.to(torch.int32) if v.dtype == torch.int64 else v
        motive, t = to_motive(name, model, k, v)
        if motive is not None:
            tensors["motive." + motive] = t
    for k, p in model.named_parameters():
        motive, grad = to_motive(name, model, k, p.grad)
        tensors["grad." + motive] = torch.zeros_like(grad) if k in zero else grad

    model.load_state_dict(initial)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xs = torch.randn(STEPS, batch, in_channels, image, image, generator=g)
    ys = torch.randint(0, classes, (STEPS, batch), generator=g)
    losses = []
    for k in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xs[k]), ys[k])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tensors["steps.input"] = xs.permute(0, 1, 3, 4, 2).contiguous()
    tensors["steps.labels"] = ys.to(torch.int32)
    tensors["steps.loss"] = torch.tensor(losses, dtype=torch.float64)
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}  # no sharing
    meta = {"model": name, "in_channels": str(in_channels), "num_classes": str(classes),
            "image": str(image), "lr": str(LR), "momentum": str(MOMENTUM),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__}
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{family}.safetensors")
    save_file(tensors, path, metadata=meta)
    print(f"golden: {path} ({name}, {os.path.getsize(path)} bytes), losses "
          + ", ".join(f"{l:.6f}" for l in losses))


# ---- --check-export ----

IDX = {"fashion-mnist": ("/usr/share/datasets/fashion-mnist", 0.2860, 0.3530),
       "mnist": (None, 0.1307, 0.3081)}


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def test_split(data, root, limit):
    if data not in IDX:
        raise SystemExit(f"golden: --check-export reads IDX data sets only ({', '.join(IDX)}), "
                         f"not {data}")
    default, mean, std = IDX[data]
    d = root or default or os.path.join(os.path.expanduser("~/.local/share/motive/datasets"), data)
    def find(stem):
        for ext in ("", ".gz"):
            p = os.path.join(d, stem + ext)
            if os.path.exists(p):
                return p
        raise SystemExit(f"golden: no {stem} in {d}")
    images = read_idx(find("t10k-images-idx3-ubyte"))[:limit]
    labels = read_idx(find("t10k-labels-idx1-ubyte"))[:limit]
    x = (torch.from_numpy(images.astype(np.float32)) / 255 - mean) / std
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def check_export(path, root, limit):
    meta = {}
    with open(path, "rb") as f:
        import json
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    if meta.get("format") != "torch-state-dict/1":
        raise SystemExit(f"golden: {path} is not a `trainer export --format torch` file")
    arch, data = meta["arch"], meta["data"]
    model = build(arch, int(meta["in_channels"]), int(meta["num_classes"]), int(meta["image_height"]))
    state = load_file(path)
    model.load_state_dict(state, strict=True)
    model.eval()
    x, y = test_split(data, root, limit)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), 256):
            correct += (model(x[i:i + 256]).argmax(1) == y[i:i + 256]).sum().item()
    print(f"golden: {arch} ({meta.get('role')} of {meta.get('run')}) loaded into "
          f"{type(model).__module__}.{type(model).__name__} with strict=True; {data} test "
          f"accuracy {100 * correct / len(y):.2f}% ({correct}/{len(y)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=GOLDEN_DIR, help="where the golden files go")
    ap.add_argument("--family", choices=sorted(GOLDEN_CASES), action="append",
                    help="only this family (repeatable; default: all)")
    ap.add_argument("--check-export", metavar="FILE", help="a `trainer export --format torch` file")
    ap.add_argument("--data-root", help="where the IDX files are (default: as the trainer)")
    ap.add_argument("--limit-test", type=int, default=None, help="first N test images")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.check_export:
        check_export(args.check_export, args.data_root, args.limit_test)
        return
    check_resnet_matches_torchvision()
    check_efficientnet_matches_torchvision()
    for family in args.family or sorted(GOLDEN_CASES):
        write_golden(family, args.out)


if __name__ == "__main__":
    sys.exit(main())

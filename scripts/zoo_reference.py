#!/usr/bin/env python3
"""Writes the reference layer tables of cdg's built-in networks from torchvision.

    python3 scripts/zoo_reference.py [--out crates/cdg-core/tests/zoo]

Needs torch and torchvision (CPU wheels are enough: ``pip install torch torchvision``). Each
network is torchvision's own model class, run on one zero image with forward hooks on every
``Conv2d`` and ``Linear``; a row records the module's name, the input and output shapes the hooks
saw and the module's kernel, stride, padding, groups and dilation. MACs are computed here from
those shapes (out_h·out_w·out_c·kh·kw·in_c/groups for a conv, in·out for a linear layer), not
taken from cdg. The CIFAR ResNets are torchvision's ResNet classes with the usual CIFAR stem:
``conv1`` a 3×3 stride-1 conv, no max-pool, a 10-class ``fc``. ResNet shortcut convolutions
(torchvision's ``layerN.M.downsample.0``) are written ``layerN.M.downsample``, the name cdg uses.

The tables are cdg's ground truth for the zoo (crates/cdg-core/tests/it/zoo.rs compares every
built-in network with its table) and are committed, so the tests need no torch.
"""

import argparse
import os
import sys

HEADER = ("name,kind,in_c,in_h,in_w,out_c,out_h,out_w,kernel_h,kernel_w,stride,padding,groups,"
          "dilation,macs")


def networks():
    import torch.nn as nn
    from torchvision import models

    def cifar(model, classes=10):
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
        model.fc = nn.Linear(model.fc.in_features, classes)
        return model

    # weights=None: the architecture only, nothing is downloaded.
    return [
        ("resnet18", lambda: models.resnet18(weights=None), 224),
        ("resnet34", lambda: models.resnet34(weights=None), 224),
        ("resnet50", lambda: models.resnet50(weights=None), 224),
        ("resnet18-cifar", lambda: cifar(models.resnet18(weights=None)), 32),
        ("resnet50-cifar", lambda: cifar(models.resnet50(weights=None)), 32),
        ("mobilenetv2", lambda: models.mobilenet_v2(weights=None), 224),
        # torchvision's own width multiplier, to pin cdg's channel rounding (_make_divisible).
        ("mobilenetv2-w0.5", lambda: models.mobilenet_v2(weights=None, width_mult=0.5), 224),
        ("mobilenetv2-w1.4", lambda: models.mobilenet_v2(weights=None, width_mult=1.4), 224),
        ("vgg16", lambda: models.vgg16(weights=None), 224),
    ]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def table(model, size):
    import torch
    import torch.nn as nn

    rows = []

    def hook(name):
        def record(module, inputs, output):
            x = inputs[0]
            if isinstance(module, nn.Conv2d):
                _, cin, h, w = x.shape
                _, cout, oh, ow = output.shape
                kh, kw = pair(module.kernel_size)
                sh, sw = pair(module.stride)
                ph, pw = pair(module.padding)
                dh, dw = pair(module.dilation)
                assert sh == sw and ph == pw and dh == dw, f"{name}: non-square parameters"
                g = module.groups
                macs = oh * ow * cout * kh * kw * (cin // g)
                rows.append((name, "conv", cin, h, w, cout, oh, ow, kh, kw, sh, ph, g, dh, macs))
            else:
                fin = x.shape[-1]
                fout = output.shape[-1]
                rows.append((name, "fc", fin, 1, 1, fout, 1, 1, 1, 1, 1, 0, 1, 1, fin * fout))
        return record

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if name.endswith(".downsample.0"):
                name = name[: -len(".0")]
            module.register_forward_hook(hook(name))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "crates", "cdg-core", "tests", "zoo")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=default, help="output directory (one NAME.csv each)")
    args = ap.parse_args()
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        sys.exit(f"zoo_reference.py needs torch and torchvision ({e}); "
                 "`pip install torch torchvision` into a virtual environment")
    os.makedirs(args.out, exist_ok=True)
    for name, build, size in networks():
        rows = table(build(), size)
        path = os.path.join(args.out, f"{name}.csv")
        with open(path, "w", newline="\n") as f:
            f.write(HEADER + "\n")
            for r in rows:
                f.write(",".join(str(v) for v in r) + "\n")
        total = sum(r[-1] for r in rows)
        print(f"{name}: {len(rows)} layers, {total / 1e9:.3f} GMACs -> {path}")


if __name__ == "__main__":
    main()

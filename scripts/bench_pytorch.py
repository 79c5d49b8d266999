#!/usr/bin/env python3
"""Side-by-side training throughput: PyTorch CPU vs `cdg train --bench-steps`.

Both train the full-width ResNet-18 CIFAR variant (3x3 stem, no max-pool, 64/128/256/512
channels, 3-channel 32x32 input, 10 classes) on random data: forward, cross-entropy, backward
and an SGD step (momentum 0.9, weight decay 5e-4), batch 32, 2 threads by default. One warm-up
step is excluded from the timing. PyTorch runs only when `import torch` works; the ratio
cdg / PyTorch is printed when both ran.

Usage: python3 scripts/bench_pytorch.py [--steps 10] [--batch 32] [--threads 2] [--cdg PATH]
The cdg binary defaults to $CARGO_TARGET_DIR/release/cdg or target/release/cdg (build it with
`cargo build --release` first).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cdg_binary(explicit):
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "cdg"


def bench_cdg(binary, steps, batch, threads):
    cmd = [str(binary), "train", "--bench-steps", str(steps), "--model", "resnet18", "--width", "1",
           "--batch", str(batch), "--threads", str(threads), "--bench-channels", "3"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^images_per_s ([0-9.]+)$", out, re.M)
    if not m:
        sys.exit(f"unexpected output of {' '.join(cmd)}:\n{out}")
    return float(m.group(1))


def bench_torch(steps, batch, threads):
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = F.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return F.relu(h + (x if self.down is None else self.down(x)))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            layers, cin = [], 64
            for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            h = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    model = ResNet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cdg", help="path of the cdg binary")
    a = p.parse_args()
    binary = cdg_binary(a.cdg)
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release` first or pass --cdg")
    ours = bench_cdg(binary, a.steps, a.batch, a.threads)
    print(f"cdg     ResNet-18 CIFAR, batch {a.batch}, {a.threads} threads: {ours:.1f} images/s")
    theirs = bench_torch(a.steps, a.batch, a.threads)
    if theirs is None:
        print("pytorch not installed (pip install torch): no ratio")
        return
    print(f"pytorch ResNet-18 CIFAR, batch {a.batch}, {a.threads} threads: {theirs:.1f} images/s")
    print(f"ratio cdg / pytorch: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()

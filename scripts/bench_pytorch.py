#!/usr/bin/env python3
"""Side-by-side training throughput: `cdg train --bench-steps` against PyTorch on the same CPU.

Workloads (all with the same thread count for both engines, 2 by default):

- `supervised`: full-width ResNet-18 CIFAR variant (3x3 stem, no max-pool, 64/128/256/512
  channels), 3x32x32 random input, 10 classes, batch 32: forward, cross-entropy, backward and
  an SGD step (momentum 0.9, weight decay 5e-4). Figures are images/s.
- `simclr`: SimCLR, ResNet-18 width 0.25 (16/32/64/128 channels), 1x32x32 input, batch 128
  pairs: SimCLR augmentation of both views (random resized crop, flip, brightness/contrast
  jitter with p 0.8, normalisation), one 2B forward, projector 128-2048-128 with BN, NT-Xent
  (tau 0.2), backward, SGD (momentum 0.9, weight decay 5e-4 on weights). Figures are views/s
  (two views per image). cdg trains on the built-in data set; PyTorch on random images of the
  same shape (the cost does not depend on the pixel values).
- `simclr-gated`: the same with dual structured gating (docs/training.md §3-§5): the two 3x3
  convolutions of every residual block are gated convolutions (base = first quarter of the
  input channels, saliency = batch-normalised base output, 16x1x1 gate blocks, scheduled
  thresholds at the 0.5 quantile of the batch, straight-through gradient with alpha 2,
  pooled gate-consistency loss with gamma 10). PyTorch computes the conditional convolution
  densely and masks it; cdg uses its default training path.

The script interleaves the engines: every round runs each workload once in cdg (a subprocess)
and once in PyTorch (in this process), so both see the same machine load; the table reports
the median of the rounds and the ratio of the medians. PyTorch runs only when `import torch`
works (no torchvision needed); otherwise only cdg's figures are printed. The load average is
printed before and after: figures measured on a loaded machine are not comparable with
quiet-machine figures, but ratios from one interleaved run are.

Usage: python3 scripts/bench_pytorch.py [--workloads supervised,simclr,simclr-gated]
           [--steps N] [--rounds R] [--threads 2] [--cdg PATH] [--cdg-before PATH]
The cdg binary defaults to $CARGO_TARGET_DIR/release/cdg or target/release/cdg (build it with
`cargo build --release -p cdg-cli` first). `--cdg-before` adds a column for another cdg binary
(e.g. an older build) measured in the same rounds.
"""

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKLOADS = {
    # name: (unit, default steps, cdg arguments)
    "supervised": ("images/s", 6, ["--model", "resnet18", "--width", "1", "--batch", "32",
                                   "--bench-channels", "3"]),
    "simclr": ("views/s", 4, ["--objective", "simclr", "--model", "resnet18", "--width", "0.25",
                              "--batch", "128", "--gating", "none"]),
    "simclr-gated": ("views/s", 4, ["--objective", "simclr", "--model", "resnet18",
                                    "--width", "0.25", "--batch", "128", "--gating", "dual",
                                    "--granularity", "structured", "--target-sparsity", "0.5"]),
}


def cdg_binary(explicit):
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "cdg"


def bench_cdg(binary, workload, steps, threads):
    """cdg's throughput (images/s or views/s), or None if this binary cannot run it."""
    _, _, args = WORKLOADS[workload]
    cmd = [str(binary), "train", "--bench-steps", str(steps), "--threads", str(threads)] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    key = "images_per_s" if workload == "supervised" else "views_per_s"
    m = re.search(rf"^{key} ([0-9.]+)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        return None
    return float(m.group(1))


# ---------------------------------------------------------------------------------------------
# PyTorch models (built only when torch imports)


def torch_workloads(threads):
    """Returns {workload: (step function, items per step)} or None without torch."""
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class GatedConv(nn.Module):
        """Channel-gated 3x3 convolution, training forward (docs/training.md §3, §5)."""

        def __init__(self, cin, cout, stride, partitions=4, block=16, alpha=2.0, target=0.5):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
            nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
            self.stride, self.block, self.alpha, self.target = stride, block, alpha, target
            self.base = math.ceil(cin / partitions)
            self.register_buffer("running_mean", torch.zeros(cout))
            self.register_buffer("running_var", torch.ones(cout))
            self.soft = None

        def forward(self, x):
            b, w = self.base, self.weight
            p = F.conv2d(x[:, :b], w[:, :b], stride=self.stride, padding=1)
            q = F.conv2d(x[:, b:], w[:, b:], stride=self.stride, padding=1)
            s = F.batch_norm(p, self.running_mean, self.running_var, training=True,
                             momentum=0.1, eps=1e-5)
            n, c, h, wd = s.shape
            gc = c // self.block
            sb = s.view(n, gc, self.block, h, wd).mean(2)
            with torch.no_grad():
                flat = sb.transpose(0, 1).reshape(gc, -1)
                k = min(max(1, round(self.target * flat.shape[1])), flat.shape[1])
                delta = flat.kthvalue(k, dim=1).values
            z = sb - delta.view(1, gc, 1, 1)
            soft_block = torch.sigmoid(self.alpha * z)
            d = (z > 0).to(z.dtype) + soft_block - soft_block.detach()
            y = p + d.repeat_interleave(self.block, dim=1) * q
            delta_c = delta.repeat_interleave(self.block).view(1, c, 1, 1)
            self.soft = torch.sigmoid(self.alpha * (s - delta_c))
            return y

    def conv3x3(cin, cout, stride, gated):
        if gated:
            return GatedConv(cin, cout, stride)
        return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, gated):
            super().__init__()
            self.conv1 = conv3x3(cin, cout, stride, gated)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = conv3x3(cout, cout, 1, gated)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            h = F.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return F.relu(h + (x if self.down is None else self.down(x)))

    class ResNet18(nn.Module):
        def __init__(self, width, in_channels, classes, gated=False):
            super().__init__()
            ch = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
            self.conv1 = nn.Conv2d(in_channels, ch[0], 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(ch[0])
            layers, cin = [], ch[0]
            for cout, stride in zip(ch, (1, 2, 2, 2)):
                layers += [Block(cin, cout, stride, gated), Block(cout, cout, 1, gated)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(cin, classes) if classes else None
            self.features = cin

        def forward(self, x):
            h = self.layers(F.relu(self.bn1(self.conv1(x))))
            h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
            return self.fc(h) if self.fc is not None else h

    def sgd(model, lr):
        decay = [p for n, p in model.named_parameters() if p.dim() > 1]
        other = [p for n, p in model.named_parameters() if p.dim() <= 1]
        return torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                                {"params": other, "weight_decay": 0.0}],
                               lr=lr, momentum=0.9)

    def supervised():
        model = ResNet18(1.0, 3, 10)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(32, 3, 32, 32)
        y = torch.arange(32) % 10

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        return step, 32

    def resized_crop_boxes(n, size, gen):
        """torchvision RandomResizedCrop.get_params (scale 0.2-1, ratio 3/4-4/3), batched:
        boxes as (x0, y0, x1, y1) in pixels."""
        area = size * size
        tries = 10
        a = area * (0.2 + 0.8 * torch.rand(n, tries, generator=gen))
        logr = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * torch.rand(
            n, tries, generator=gen)
        r = torch.exp(logr)
        w = torch.round(torch.sqrt(a * r))
        h = torch.round(torch.sqrt(a / r))
        ok = (w > 0) & (w <= size) & (h > 0) & (h <= size)
        first = torch.where(ok.any(1), ok.float().argmax(1), torch.zeros(n, dtype=torch.long))
        w = torch.where(ok.any(1), w.gather(1, first[:, None])[:, 0], torch.full((n,), size))
        h = torch.where(ok.any(1), h.gather(1, first[:, None])[:, 0], torch.full((n,), size))
        y0 = torch.floor(torch.rand(n, generator=gen) * (size - h + 1))
        x0 = torch.floor(torch.rand(n, generator=gen) * (size - w + 1))
        return torch.stack([x0, y0, x0 + w, y0 + h], 1)

    def bilinear_crops(img, boxes, size):
        """Crops every image to its box and resizes it bilinearly to size x size
        (align_corners=False sampling, as a resize of the crop)."""
        n = img.shape[0]
        t = (torch.arange(size, dtype=img.dtype) + 0.5) / size
        x0, y0, x1, y1 = boxes.unbind(1)
        sx = x0[:, None] + t[None] * (x1 - x0)[:, None]
        sy = y0[:, None] + t[None] * (y1 - y0)[:, None]
        # Normalised coordinates for grid_sample with align_corners=False.
        gx = (2 * sx / img.shape[3] - 1)[:, None, :].expand(n, size, size)
        gy = (2 * sy / img.shape[2] - 1)[:, :, None].expand(n, size, size)
        grid = torch.stack([gx, gy], -1)
        return F.grid_sample(img, grid, mode="bilinear", padding_mode="border",
                             align_corners=False)

    def augment(img, gen, mean, std):
        n, _, size, _ = img.shape
        v = bilinear_crops(img, resized_crop_boxes(n, size, gen), size)
        flip = torch.rand(n, generator=gen) < 0.5
        v = torch.where(flip[:, None, None, None], v.flip(-1), v)
        jitter = (torch.rand(n, generator=gen) < 0.8)[:, None, None, None]
        bf = (0.6 + 0.8 * torch.rand(n, generator=gen))[:, None, None, None]
        cf = (0.6 + 0.8 * torch.rand(n, generator=gen))[:, None, None, None]
        order = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]

        def bright(u):
            return (u * bf).clamp(0, 1)

        def contrast(u):
            m = u.mean(dim=(1, 2, 3), keepdim=True)
            return (cf * u + (1 - cf) * m).clamp(0, 1)

        j = torch.where(order, contrast(bright(v)), bright(contrast(v)))
        v = torch.where(jitter, j, v)
        return (v - mean) / std

    def nt_xent(z, tau=0.2):
        z = F.normalize(z, dim=1)
        n2 = z.shape[0]
        sim = z @ z.t() / tau
        sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
        target = (torch.arange(n2) + n2 // 2) % n2
        return F.cross_entropy(sim, target)

    def simclr(gated):
        backbone = ResNet18(0.25, 1, 0, gated=gated)
        f = backbone.features
        projector = nn.Sequential(nn.Linear(f, 2048, bias=False), nn.BatchNorm1d(2048),
                                  nn.ReLU(), nn.Linear(2048, 128))
        model = nn.Sequential(backbone, projector)
        opt = sgd(model, 0.1)
        gated_layers = [m for m in backbone.modules() if isinstance(m, GatedConv)]
        gen = torch.Generator().manual_seed(0)
        batch = 128
        images = torch.rand(batch, 1, 32, 32, generator=gen)
        mean, std = images.mean(), images.std()

        def step():
            with torch.no_grad():
                views = torch.cat([augment(images, gen, mean, std),
                                   augment(images, gen, mean, std)])
            opt.zero_grad()
            loss = nt_xent(model(views))
            if gated_layers:
                gate_loss = 0.0
                for g in gated_layers:
                    pooled = g.soft.mean(dim=(2, 3))
                    gate_loss = gate_loss + ((pooled[:batch] - pooled[batch:]) ** 2).mean()
                loss = loss + 10.0 * gate_loss / len(gated_layers)
            loss.backward()
            opt.step()

        return step, 2 * batch

    return {
        "supervised": supervised,
        "simclr": lambda: simclr(False),
        "simclr-gated": lambda: simclr(True),
    }


def bench_torch(make, steps):
    step, items = make
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * items / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------


def fmt(v):
    return "n/a" if v is None else f"{v:.1f}"


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="supervised,simclr,simclr-gated",
                   help="comma-separated subset of " + ", ".join(WORKLOADS))
    p.add_argument("--steps", type=int, help="timed steps per run (default per workload)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cdg", help="path of the cdg binary")
    p.add_argument("--cdg-before", help="path of a second cdg binary measured alongside")
    p.add_argument("--no-torch", action="store_true", help="measure cdg only")
    a = p.parse_args()
    names = [w.strip() for w in a.workloads.split(",") if w.strip()]
    for w in names:
        if w not in WORKLOADS:
            sys.exit(f"--workloads: unknown workload {w!r}; expected one of {', '.join(WORKLOADS)}")
    binary = cdg_binary(a.cdg)
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release -p cdg-cli` first or pass --cdg")
    before = Path(a.cdg_before) if a.cdg_before else None
    if before is not None and not before.exists():
        sys.exit(f"--cdg-before: {before} not found")

    load0 = os.getloadavg()
    torch_makers = None if a.no_torch else torch_workloads(a.threads)
    torch_steps = {}
    if torch_makers is not None:
        for w in names:
            torch_steps[w] = torch_makers[w]()
            torch_steps[w][0]()  # warm-up step, not timed
    results = {w: {"cdg": [], "before": [], "torch": []} for w in names}
    for r in range(a.rounds):
        for w in names:
            steps = a.steps or WORKLOADS[w][1]
            results[w]["cdg"].append(bench_cdg(binary, w, steps, a.threads))
            if before is not None:
                results[w]["before"].append(bench_cdg(before, w, steps, a.threads))
            if torch_makers is not None:
                results[w]["torch"].append(bench_torch(torch_steps[w], steps))
            print(f"round {r + 1}/{a.rounds} {w}: cdg {fmt(results[w]['cdg'][-1])}"
                  + (f", before {fmt(results[w]['before'][-1])}" if before else "")
                  + (f", pytorch {fmt(results[w]['torch'][-1])}" if torch_makers else ""),
                  file=sys.stderr, flush=True)
    load1 = os.getloadavg()

    torch_version = "not installed"
    if torch_makers is not None:
        import torch
        torch_version = torch.__version__
    print(f"threads {a.threads}, rounds {a.rounds} (median), PyTorch {torch_version}, "
          f"load average {load0[0]:.1f} before / {load1[0]:.1f} after, {os.cpu_count()} CPUs")
    head = "| workload | unit | cdg |"
    rule = "|---|---|---|"
    if before is not None:
        head += " cdg before | after / before |"
        rule += "---|---|"
    head += " PyTorch | cdg / PyTorch |"
    rule += "---|---|"
    print(head)
    print(rule)
    med = {w: {k: median(v) for k, v in results[w].items()} for w in names}
    for w in names:
        m = med[w]
        row = f"| {w} | {WORKLOADS[w][0]} | {fmt(m['cdg'])} |"
        if before is not None:
            row += f" {fmt(m['before'])} | {ratio(m['cdg'], m['before'])} |"
        row += f" {fmt(m['torch'])} | {ratio(m['cdg'], m['torch'])} |"
        print(row)
    if "simclr" in med and "simclr-gated" in med:
        d, g = med["simclr"], med["simclr-gated"]
        line = f"gated / dense: cdg {ratio(g['cdg'], d['cdg'])}"
        if before is not None:
            line += f", cdg before {ratio(g['before'], d['before'])}"
        line += f", PyTorch {ratio(g['torch'], d['torch'])}"
        print(line)


if __name__ == "__main__":
    main()

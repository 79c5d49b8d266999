#!/usr/bin/env python3
"""CDG vs dense SSL vs plain channel gating on the built-in Fashion-MNIST subset.

Trains, with the same budget and seed (ResNet-18 CIFAR, width 0.25, SimCLR):

  dense            SimCLR without gates (its random-initialisation kNN is the floor)
  cg-learned       plain channel gating, learned thresholds (channel gating's own recipe)
  indep-sched      independent gating, scheduled thresholds
  cdg-g1/g10/g100  dual gating (CDG), gamma 1, 10, 100
                   -- all structured (16x1x1) at target sparsity 0.7 --
  then the best independent and the best dual run at target 0.5 and 0.8, and both
  unstructured at 0.7; with --seeds 2 the headline rows (dense, best independent, best dual
  at 0.7) are repeated with seed+1 to tell noise from effect.

Every run is `cdg train ... --out OUT/<name>`; finished runs (summary.json with
"complete": true) are reused and interrupted ones continue from their checkpoint (`--resume`),
so the script can be stopped and restarted without losing epochs. Prints one
table (kNN and linear accuracy, network FLOPs reduction, calibrated gate sparsity overall and
per stage, images/s) and writes it to OUT/table.csv.

With --high-sparsity it trains instead the high-sparsity plan (the regime where the published
claim lives; every row with the same budget, structured 16x1x1, CDG gamma 10):

  dense                                  SimCLR without gates, seed --seed, with the floor
  cg-learned / indep-sched / cdg-g10     SimCLR at targets 0.9 and 0.95, --seeds seeds each
  simsiam-dense                          SimSiam without gates, with its floor
  simsiam-indep-sched / simsiam-cdg-g10  SimSiam at targets 0.7 and 0.9, --simsiam-seeds each
  indep-sched / cdg-g10                  SimCLR at target 0.7, the trend at the same budget

usually fine-tuned from a dense backbone (--init-from, as `cdg run` does). Failed runs (a
non-finite loss, for example) are reported as such in the table instead of stopping the script.

Run time: one epoch of the full budget (10 000 images, batch 128) takes about
10 000 / (images/s) seconds; on the 2-core development machine SimCLR at width 0.25 ran at
roughly 40-80 images/s (each image = 2 views), i.e. 2-4 minutes per epoch, so the default
30 epochs x ~14 runs is on the order of a day. `--quick` (2 epochs on 1 024 images) checks
the pipeline in about half an hour and says nothing about accuracy.

Usage:
  experiments/cdg_comparison.py [--cdg target/release/cdg] [--out results/cdg_comparison]
                                [--epochs 30] [--seeds 1] [--jobs 1] [--quick]
                                [--high-sparsity [--simsiam-seeds 1]] [--init-from CKPT]
                                [-- extra cdg train flags]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STAGES = ["layer1", "layer2", "layer3", "layer4"]


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cdg", default="target/release/cdg", help="the cdg binary")
    ap.add_argument("--out", default="results/cdg_comparison", help="output directory")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="2 repeats the headline rows with seed+1")
    ap.add_argument("--init-from", default=None,
                    help="start every run from this dense checkpoint (`cdg train --init-from`)")
    ap.add_argument("--high-sparsity", action="store_true",
                    help="train the high-sparsity plan (SimCLR at 0.9/0.95, SimSiam at 0.7/0.9) "
                         "instead of the comparison at 0.5-0.8")
    ap.add_argument("--simsiam-seeds", type=int, default=1,
                    help="--high-sparsity: seeds of each gated SimSiam row")
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--limit-test", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="threads per run (default: all cores; 1 when --jobs > 1)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="independent runs trained at once (2 single-threaded runs beat one "
                         "2-threaded run on 2 cores at width 0.25)")
    ap.add_argument("--quick", action="store_true", help="2 epochs on 1024 training / 1000 test images")
    ap.add_argument("--table-only", action="store_true",
                    help="train nothing: print and write the table from the runs already "
                         "finished in OUT (unfinished runs show '-')")
    ap.add_argument("extra", nargs="*", help="further `cdg train` flags (after --)")
    a = ap.parse_args()
    if a.quick:
        a.epochs = min(a.epochs, 2)
        a.limit_train = a.limit_train or 1024
        a.limit_test = a.limit_test or 1000
    if a.jobs > 1 and a.threads is None:
        a.threads = 1
    return a


def common(a, seed, objective="simclr"):
    args = [
        "--objective", objective, "--model", "resnet18", "--width", str(a.width),
        "--epochs", str(a.epochs), "--batch", str(a.batch), "--lr", str(a.lr),
        "--seed", str(seed), "--knn-every", "0",
    ]
    if a.limit_train:
        args += ["--limit-train", str(a.limit_train),
                 "--calibration-samples", str(min(2000, a.limit_train))]
    if a.limit_test:
        args += ["--limit-test", str(a.limit_test)]
    if a.threads:
        args += ["--threads", str(a.threads)]
    if a.init_from:
        args += ["--init-from", a.init_from]
    return args + list(a.extra)


def gated(kind, target, granularity="structured", gamma=None, threshold="scheduled"):
    args = ["--gating", kind, "--granularity", granularity, "--target-sparsity", str(target),
            "--threshold", threshold]
    if gamma is not None:
        args += ["--gate-consistency", str(gamma)]
    return args


def run(a, name, flags, seed, objective="simclr"):
    out = os.path.join(a.out, name if seed == a.seed else f"{name}-seed{seed}")
    summary = os.path.join(out, "summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            s = json.load(f)
        if s.get("complete"):
            print(f"[reuse] {out}", file=sys.stderr)
            return {**s, **final_row(out)}
    if a.table_only:
        print(f"[missing] {out}", file=sys.stderr)
        return {}
    cmd = [a.cdg, "train", "--out", out] + common(a, seed, objective) + flags
    if os.path.exists(os.path.join(out, "checkpoint.cdgckpt")):
        cmd.append("--resume")  # an interrupted run continues from its last finished epoch
    print("[run]", " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.time()
    code = subprocess.run(cmd).returncode
    wall = time.time() - t0
    if code != 0:
        # e.g. a non-finite loss: the row says so, the other runs go on.
        print(f"[FAILED] {name} seed {seed}: exit code {code} after {wall:.0f} s",
              file=sys.stderr, flush=True)
        return {"failed": f"exit code {code}", **final_row(out)}
    print(f"[done] {name} seed {seed} in {wall:.0f} s", file=sys.stderr, flush=True)
    with open(summary) as f:
        return {**json.load(f), **final_row(out)}


def final_row(out):
    """Training loss of the last epoch in OUT/metrics.csv (None if there is none)."""
    try:
        with open(os.path.join(out, "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    if not rows:
        return {}
    loss = rows[-1].get("loss")
    return {"final_loss": float(loss) if loss else None, "final_epoch": int(rows[-1]["epoch"])}


def row(name, seed, s, desc, floor=None):
    st = s.get("stage_gate_sparsity") or {}
    plan = s.get("plan") or {}
    return {
        "run": name,
        "seed": seed,
        "setting": desc,
        "objective": s.get("objective"),
        "target_sparsity": plan.get("target_sparsity"),
        "knn_accuracy": s.get("knn_accuracy"),
        "knn_floor": floor if floor is not None else s.get("init_knn_accuracy"),
        "linear_accuracy": s.get("linear_accuracy"),
        "final_loss": s.get("final_loss"),
        "flops_reduction": s.get("flops_reduction"),
        "gated_layers_flops_reduction": s.get("gated_layers_flops_reduction"),
        "gate_sparsity": s.get("gate_sparsity"),
        "train_gate_sparsity": s.get("train_gate_sparsity"),
        **{f"sparsity_{k}": st.get(k) for k in STAGES},
        "images_per_s": s.get("images_per_s"),
        "train_seconds": s.get("train_seconds"),
        "complete": bool(s.get("complete")),
        "failed": s.get("failed"),
    }


def fmt(v, pct=False):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}" if pct else f"{v:.2f}"
    return str(v)


def main():
    a = parse()
    os.makedirs(a.out, exist_ok=True)
    started = time.time()
    pool = ThreadPoolExecutor(max_workers=max(1, a.jobs))

    def start(name, flags, seed, objective="simclr"):
        return pool.submit(run, a, name, flags, seed, objective)

    if a.high_sparsity:
        rows = high_sparsity(a, start)
    else:
        rows = comparison(a, start)
    pool.shutdown()
    write_table(a, rows, started)


def comparison(a, start):
    """The comparison at targets 0.5-0.8 (the module docstring's first plan)."""
    rows = []
    s0 = a.seed
    first = {
        "cg-learned": (gated("independent", 0.7, threshold="learned"),
                       "channel gating, learned thresholds (target 0.7 at calibration)"),
        "indep-sched": (gated("independent", 0.7), "independent gating, scheduled, 0.7"),
        "cdg-g1": (gated("dual", 0.7, gamma=1), "CDG gamma 1, 0.7"),
        "cdg-g10": (gated("dual", 0.7, gamma=10), "CDG gamma 10, 0.7"),
        "cdg-g100": (gated("dual", 0.7, gamma=100), "CDG gamma 100, 0.7"),
    }
    dense_f = start("dense", ["--gating", "none", "--knn-init"], s0)
    futures = {name: start(name, flags, s0) for name, (flags, _) in first.items()}
    dense_repeats = [(seed, start("dense", ["--gating", "none"], seed))
                     for seed in range(s0 + 1, s0 + a.seeds)]
    dense = dense_f.result()
    rows.append(row("random-init", s0, {"knn_accuracy": dense.get("init_knn_accuracy"),
                                    "complete": dense.get("complete")},
                    "floor: kNN of the untrained dense network"))
    rows.append(row("dense", s0, dense, "dense SimCLR"))
    res = {}
    for name, (flags, desc) in first.items():
        res[name] = (futures[name].result(), flags, desc)
        rows.append(row(name, s0, res[name][0], desc))

    def best(names):
        return max(names, key=lambda n: res[n][0].get("knn_accuracy") or 0.0)

    bi = best(["cg-learned", "indep-sched"])
    bd = best(["cdg-g1", "cdg-g10", "cdg-g100"])
    gamma = {"cdg-g1": 1, "cdg-g10": 10, "cdg-g100": 100}[bd]
    thr_i = "learned" if bi == "cg-learned" else "scheduled"
    # Each later run carries its submission rank: most informative first (0.8, where methods
    # separate most; then unstructured; then 0.5; then the seed repeats), so an interrupted
    # run has the pairs that matter. The table keeps the order of `later`.
    second = []
    for target, rank in ((0.5, 2), (0.8, 0)):
        second += [
            (f"{bi}-{target}", gated("independent", target, threshold=thr_i), f"best independent ({bi}) at {target}", rank),
            (f"{bd}-{target}", gated("dual", target, gamma=gamma), f"best CDG ({bd}) at {target}", rank),
        ]
    second += [
        (f"{bi}-unstructured", gated("independent", 0.7, "unstructured", threshold=thr_i),
         f"best independent ({bi}), unstructured, 0.7", 1),
        (f"{bd}-unstructured", gated("dual", 0.7, "unstructured", gamma=gamma),
         f"best CDG ({bd}), unstructured, 0.7", 1),
    ]
    repeats = []
    for seed in range(s0 + 1, s0 + a.seeds):
        for name in (bi, bd):
            repeats.append((name, res[name][1], seed, res[name][2], 3))
    later = [(n, f, s0, d, r) for n, f, d, r in second] + repeats
    order = sorted(range(len(later)), key=lambda i: later[i][4])
    futs = {i: start(later[i][0], later[i][1], later[i][2]) for i in order}
    for seed, fut in dense_repeats:
        rows.append(row("dense", seed, fut.result(), "dense SimCLR"))
    for i, (name, _, seed, desc, _) in enumerate(later):
        rows.append(row(name, seed, futs[i].result(), desc))
    return rows


HS_SIMCLR_TARGETS = (0.9, 0.95)
HS_SIMSIAM_TARGETS = (0.7, 0.9)
HS_SIMCLR_REFERENCE = (0.7,)


def high_sparsity(a, start):
    """The high-sparsity plan (--high-sparsity; the module docstring's second plan).

    Submission order: the SimCLR rows at 0.9/0.95 for the first two seeds, then SimSiam, then
    SimCLR independent and CDG at 0.7 (the trend at this budget), then further SimCLR seeds
    (the same rows), so an interrupted run has the rows that matter most. The table lists
    dense first, then by objective, target, variant and seed."""
    s0 = a.seed
    variants = [
        ("cg-learned", lambda t: gated("independent", t, threshold="learned"),
         "channel gating, learned thresholds (target {t} at calibration)"),
        ("indep-sched", lambda t: gated("independent", t), "independent gating, scheduled, {t}"),
        ("cdg-g10", lambda t: gated("dual", t, gamma=10), "CDG gamma 10, {t}"),
    ]
    plan = []  # (name, flags, seed, objective, description)
    plan.append(("dense", ["--gating", "none", "--knn-init"], s0, "simclr", "dense SimCLR"))

    def simclr(seeds, targets, vs):
        for seed in seeds:
            for t in targets:
                for name, flags, desc in vs:
                    plan.append((f"{name}-{t}", flags(t), seed, "simclr", desc.format(t=t)))

    simclr(range(s0, s0 + min(a.seeds, 2)), HS_SIMCLR_TARGETS, variants)
    plan.append(("simsiam-dense", ["--gating", "none", "--knn-init"], s0, "simsiam",
                 "dense SimSiam"))
    for seed in range(s0, s0 + a.simsiam_seeds):
        for t in HS_SIMSIAM_TARGETS:
            for name, flags, desc in variants[1:]:
                plan.append((f"simsiam-{name}-{t}", flags(t), seed, "simsiam",
                             "SimSiam, " + desc.format(t=t)))
    # The same budget at the comparison's target 0.7, for the trend, then any further seeds.
    simclr(range(s0, s0 + min(a.seeds, 2)), HS_SIMCLR_REFERENCE, variants[1:])
    simclr(range(s0 + 2, s0 + a.seeds), HS_SIMCLR_TARGETS, variants)
    simclr(range(s0 + 2, s0 + a.seeds), HS_SIMCLR_REFERENCE, variants[1:])
    futs = [start(n, f, seed, obj) for n, f, seed, obj, _ in plan]
    done = [(p, fut.result()) for p, fut in zip(plan, futs)]

    def target(name):
        return 0.0 if name.endswith("dense") else float(name.rsplit("-", 1)[1])

    def key(item):
        (name, _, seed, obj, _), _ = item
        order = [v[0] for v in variants]
        variant = name.removeprefix("simsiam-").rsplit("-", 1)[0]
        return (obj != "simclr", target(name), order.index(variant) if variant in order else -1,
                seed)

    rows = []
    for (name, _, seed, obj, desc), s in sorted(done, key=key):
        s = {"objective": obj, **s}
        if not name.endswith("dense"):
            s.setdefault("plan", {"target_sparsity": target(name)})
        if name.endswith("dense"):
            rows.append(row("random-init" if obj == "simclr" else "simsiam-random-init", seed,
                            {"objective": obj, "knn_accuracy": s.get("init_knn_accuracy"),
                             "complete": s.get("complete")},
                            "floor: kNN of the untrained dense network"))
        rows.append(row(name, seed, s, desc))
    return rows


def write_table(a, rows, started):
    path = os.path.join(a.out, "table.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    cols = ["run", "seed", "knn %", "floor %", "linear %", "loss", "FLOPs red.", "sparsity",
            "l1", "l2", "l3", "l4", "img/s", "train s"]
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for r in rows:
        print(" | ".join([
            r["run"] + (f" (FAILED: {r['failed']})" if r["failed"] else ""), str(r["seed"]),
            fmt(r["knn_accuracy"], True), fmt(r["knn_floor"], True),
            fmt(r["linear_accuracy"], True), fmt(r["final_loss"]),
            fmt(r["flops_reduction"]), fmt(r["gate_sparsity"]),
            *[fmt(r[f"sparsity_{k}"]) for k in STAGES], fmt(r["images_per_s"]),
            fmt(r["train_seconds"]),
        ]))
    print(f"\ntable: {path}; wall time {time.time() - started:.0f} s "
          f"(epochs {a.epochs}, limit_train {a.limit_train}, width {a.width})")


if __name__ == "__main__":
    main()

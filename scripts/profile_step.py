#!/usr/bin/env python3
"""Where a training step's CPU time goes: runs a `cdg train --bench-steps` command under
`perf record` (software cpu-clock sampling with DWARF call chains, so it works in VMs without
hardware counters) and attributes every sample to one category by its leaf frame and the
innermost cdg_train frame of its call chain.

Usage: python3 scripts/profile_step.py [--freq 400] [--perf-data FILE] -- CDG_ARGS...
       python3 scripts/profile_step.py --no-record --perf-data FILE   (classify again)
e.g.   python3 scripts/profile_step.py -- target/release/cdg train --bench-steps 3 \\
           --model resnet18 --width 1 --batch 32 --threads 2 --bench-channels 3

Samples include the set-up (model initialisation, data loading, warm-up step); run enough
steps that the timed ones dominate. Percentages are of all samples of the process.
"""

import argparse
import collections
import re
import subprocess
import sys

LEAF_RULES = [
    ("GEMM micro-kernel (gemm crate)", re.compile(r"gemm_f32::microkernel|gemm_f64::microkernel")),
    ("GEMM packing and glue (gemm crate)", re.compile(
        r"gemm_common|gemm_f32|gemm_f64|gemm::|dyn_stack|pack_generic|write<\[f32")),
    ("conv micro-kernels (cdg)", re.compile(r"cdg_train::(skip::kernel|ops::kernel)|k512<|k256<")),
    ("allocation, zeroing, page faults", re.compile(
        r"memset|clear_page|page_fault|do_anonymous_page|_mm_fault|alloc_pages|munmap|mmap|"
        r"malloc|free|cfree|realloc|__rust_alloc|__rust_dealloc|folio|unmap_page|zap_|tlb")),
    ("copies (memcpy)", re.compile(r"memmove|memcpy")),
    ("thread synchronisation (rayon, scheduler)", re.compile(
        r"sched|futex|finish_task_switch|spin_unlock|rayon_core::sleep|rayon_core::latch|"
        r"wait_until_cold|try_to_wake_up|syscall|entry_SYSCALL|irqentry|__x64_sys|switch_to|"
        r"exit_to_user_mode|rseq|execute|steal|crossbeam|native_write_msr|smp_call_function|"
        r"queued_spin_lock|softirq")),
]

FRAME_RULES = [
    ("im2col / col2im", r"ops::conv::(im2col|col2im)"),
    ("conv glue (layout, padding, gather)", r"ops::conv|skip::|ops::direct"),
    ("batch norm", r"ops::norm|layers::batchnorm"),
    ("gating (saliency, gates, consistency)", r"gating::|ops::sigmoid"),
    ("augmentation and batching", r"data::"),
    ("loss", r"ssl::loss|ops::loss"),
    ("optimizer", r"optim::"),
    ("ReLU, residual add, pooling", r"ops::elementwise|layers::relu|layers::block"),
    ("linear layers / projector (non-GEMM)", r"ops::linear|layers::linear|layers::mlp"),
    ("parameter init / model set-up", r"layers::conv::Conv2d<T>>::new|Conv2d<T>::new|GatedConv<T>::new|::new::|with_conv_factory"),
]


def classify(frames, leaf):
    for name, rx in LEAF_RULES:
        if rx.search(leaf):
            return name
    for f in frames:
        if "cdg_train::" in f:
            for name, pat in FRAME_RULES:
                if re.search(r"cdg_train::(" + pat + ")", f) or re.search(pat, f.split("cdg_train::", 1)[1]):
                    return name
            m = re.search(r"cdg_train::([a-z_]+::[a-z_]+)", f)
            return "other cdg_train (" + (m.group(1) if m else "?") + ")"
    return "other"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--freq", type=int, default=400)
    p.add_argument("--perf-data", default="/tmp/cdg-profile.data")
    p.add_argument("--no-record", action="store_true",
                   help="only classify an existing --perf-data file")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd and not a.no_record:
        sys.exit("give the cdg command after --")
    if not a.no_record:
        subprocess.run(["perf", "record", "-q", "-F", str(a.freq), "--call-graph", "dwarf,32768",
                        "-e", "cpu-clock", "-o", a.perf_data, "--"] + cmd, check=True)
    out = subprocess.run(["perf", "script", "-i", a.perf_data, "-F", "comm,ip,sym,dso"],
                         check=True, capture_output=True, text=True).stdout
    blocks = []
    unknown = collections.defaultdict(set)
    for block in out.split("\n\n"):
        lines = [l.strip() for l in block.strip().splitlines()]
        if not lines:
            continue
        frames = []
        for l in lines[1:]:
            m = re.match(r"([0-9a-f]+) (.*) \((.*)\)$", l)
            if not m:
                continue
            ip, sym, dso = m.groups()
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            if sym == "[unknown]" and dso.startswith("/"):
                unknown[dso].add(ip)
            frames.append((ip, sym, dso))
        blocks.append(frames)
    # perf sometimes cannot read a binary's symbols (its build-id cache); addr2line can.
    resolved = {}
    for dso, ips in unknown.items():
        ips = sorted(ips)
        r = subprocess.run(["addr2line", "-a", "-f", "-C", "-e", dso] + ["0x" + i for i in ips],
                           capture_output=True, text=True)
        lines = r.stdout.splitlines()
        for k in range(0, len(lines) - 2, 3):
            resolved[(dso, lines[k].lower().lstrip("0x").lstrip("0") or "0")] = lines[k + 1]
    counts = collections.Counter()
    total = 0
    for block in blocks:
        frames, ips = [], []
        for ip, sym, dso in block:
            if sym == "[unknown]":
                sym = resolved.get((dso, ip.lstrip("0") or "0"), sym)
            ips.append(ip)
            frames.append(sym)
        # The leaf function and the functions inlined into it share the leaf's address.
        leaf = " ".join(f for f, ip in zip(frames, ips) if ip == ips[0]) if ips else ""
        counts[classify(frames, leaf)] += 1
        total += 1
    print(f"{total} samples of: {' '.join(cmd) or a.perf_data}")
    for name, n in counts.most_common():
        print(f"{100.0 * n / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()

"""Write cdg trace directories from NumPy (or PyTorch) gate tensors. Needs only NumPy.

A trace is a directory with ``manifest.json`` (the layers and their gate blocks) and
``masks.npz`` (one boolean array ``[N, ceil(C_out/bc), ceil(H_out/bh), ceil(W_out/bw)]`` per
gated layer); ``cdg sim``, ``cdg sweep`` and ``cdg inspect`` read it. Typical use::

    import cdg_trace
    layer = cdg_trace.conv_layer("layer1.0.conv1", 16, 32, 32, 16, gate=(4, (16, 1, 1)))
    grid = cdg_trace.gate_grid(gates, (16, 1, 1), reduce="any")  # gates: [N, C_out, H_out, W_out]
    cdg_trace.write_trace("traces/mine", [layer], {layer["name"]: grid}, samples=len(grid))

Without typing shapes: export the model to ONNX, ``cdg import onnx model.onnx --out net``, then
``write_trace_for_network("net", "traces/mine", {name: gates, ...}, (16, 1, 1), reduce="any")``
takes every layer shape from ``net`` and gates the layers named in the dict.

``write_trace`` checks every layer and every mask against the manifest rules (the same ones
the Rust reader enforces) and raises ``ValueError`` naming the layer, the dimension, what was
expected and what was found. Files are written to temporary names and renamed, so a crash
never leaves half a trace. Run ``python3 cdg_trace.py --demo OUT_DIR`` for a small example.
"""

import json
import math
import os
import sys
import tempfile
import zipfile

import numpy as np

FORMAT = "cdg-trace"
VERSION = 2  # the newest manifest version; plain networks are still written as version 1
MANIFEST = "manifest.json"
MASKS = "masks.npz"

__all__ = [
    "conv_layer",
    "fc_layer",
    "output_size",
    "grid_shape",
    "gate_grid",
    "read_network",
    "write_trace",
    "write_trace_for_network",
]


def conv_layer(name, in_channels, in_height, in_width, out_channels, kernel=3, stride=1,
               padding=None, gate=None, groups=1, dilation=1):
    """A manifest layer dict for a convolution.

    ``kernel`` is an int or ``(kh, kw)``; ``padding`` defaults to ``dilation * (kh // 2)``
    ("same" for odd kernels at stride 1). ``groups`` splits the channels into independent
    groups (``in_channels`` for depthwise); ``dilation`` spaces the kernel taps. ``gate`` is
    ``None`` or ``(base_channels, (bc, bh, bw))``; for a grouped layer ``base_channels`` counts
    the base input channels of each group.
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if padding is None:
        padding = int(dilation) * (kh // 2)
    layer = {
        "name": str(name),
        "kind": "conv",
        "in_channels": int(in_channels),
        "in_height": int(in_height),
        "in_width": int(in_width),
        "out_channels": int(out_channels),
        "kernel": [int(kh), int(kw)],
        "stride": int(stride),
        "padding": int(padding),
        "gate": None,
    }
    if int(groups) != 1:
        layer["groups"] = int(groups)
    if int(dilation) != 1:
        layer["dilation"] = int(dilation)
    if gate is not None:
        base, block = gate
        layer["gate"] = {"base_channels": int(base), "block": [int(b) for b in block]}
    layer["out_height"], layer["out_width"] = _out_hw(layer)
    return layer


def fc_layer(name, in_features, out_features):
    """A manifest layer dict for a fully connected layer (never gated)."""
    return {
        "name": str(name), "kind": "fc", "in_channels": int(in_features), "in_height": 1,
        "in_width": 1, "out_channels": int(out_features), "kernel": [1, 1], "stride": 1,
        "padding": 0, "gate": None,
    }


def output_size(size, kernel, stride, padding, rule="floor", dilation=1, padding_end=None):
    """Output rows/cols: ``(size + p + p_end - d(k-1) - 1) // s + 1`` (PyTorch; ``p_end``
    defaults to ``p``) or SCALE-Sim's ceil."""
    effective = dilation * (kernel - 1) + 1
    if rule == "ceil":
        return -(-(size - effective) // stride) + 1
    end = padding if padding_end is None else padding_end
    return (size + padding + end - effective) // stride + 1


def grid_shape(layer):
    """``(gc, gh, gw)``: the gate grid of a gated layer dict."""
    block = layer["gate"]["block"]
    out_h, out_w = _out_hw(layer)
    return (math.ceil(layer["out_channels"] / block[0]), math.ceil(out_h / block[1]),
            math.ceil(out_w / block[2]))


def gate_grid(gates, block, reduce):
    """Per-element gates ``[N, C, H, W]`` (0/1 or bool) → block grid ``[N, gc, gh, gw]`` (bool).

    A gate block covers ``block = (bc, bh, bw)`` output elements but has one gate, so the
    elements' gates must be reduced to one; ``reduce`` says how, and has no default because
    the choice sets the density the simulator sees:

    - ``"any"``: on if any element is on. No active output is lost, but the block density is
      at least the element density (often much higher): the conservative hardware view.
    - ``"all"``: on only if every element is on; the block density is at most the element
      density (active outputs in partly-on blocks are dropped).
    - ``"mean>=T"`` / ``"mean>T"`` (``T`` in [0, 1], e.g. ``"mean>=0.5"``): on if the fraction
      of the block's elements that are on is at least (more than) ``T``.

    Edge blocks may be partial; they are reduced over the elements they have.
    """
    g = _as_numpy(gates)
    if g.ndim != 4:
        raise ValueError(f"gates must be [N, C, H, W], found shape {g.shape}")
    rule = _parse_reduce(reduce)
    bc, bh, bw = (int(b) for b in block)
    if min(bc, bh, bw) < 1:
        raise ValueError(f"block {block} has a zero-sized dimension; expected each at least 1")
    n, c, h, w = g.shape
    gc, gh, gw = math.ceil(c / bc), math.ceil(h / bh), math.ceil(w / bw)
    # Pad to whole blocks; padded elements count as off and are excluded from the count.
    on = np.zeros((n, gc * bc, gh * bh, gw * bw), dtype=np.float64)
    valid = np.zeros_like(on)
    on[:, :c, :h, :w] = g != 0
    valid[:, :c, :h, :w] = 1.0
    shape = (n, gc, bc, gh, bh, gw, bw)
    total = on.reshape(shape).sum(axis=(2, 4, 6))
    count = valid.reshape(shape).sum(axis=(2, 4, 6))
    kind, t = rule
    if kind == "any":
        return total > 0
    if kind == "all":
        return total == count
    # Compare on counts (total >= t·count) so that thresholds like 0.5 are exact.
    return total >= t * count if kind == ">=" else total > t * count


def _parse_reduce(reduce):
    if reduce in ("any", "all"):
        return (reduce, None)
    if isinstance(reduce, str) and reduce.startswith("mean"):
        rest = reduce[4:].strip()
        for op in (">=", ">"):
            if rest.startswith(op):
                try:
                    t = float(rest[len(op):])
                except ValueError:
                    break
                if 0.0 <= t <= 1.0:
                    return (op, t)
                break
    raise ValueError(f"reduce must be 'any', 'all', 'mean>=T' or 'mean>T' with T in [0, 1] "
                     f"(e.g. 'mean>=0.5'), found {reduce!r}")


def read_network(network_dir):
    """The layer dicts of a trace or network directory (``cdg import onnx --out DIR``), in
    manifest order, checked as ``write_trace`` checks them."""
    with open(os.path.join(network_dir, MANIFEST), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{network_dir}/{MANIFEST}: format is {manifest.get('format')!r}; "
                         f"expected {FORMAT!r}")
    if manifest.get("version") not in (1, 2):
        raise ValueError(f"{network_dir}/{MANIFEST}: version {manifest.get('version')!r} is not "
                         f"supported (this helper reads versions 1 and 2)")
    return [_check_layer(i, layer) for i, layer in enumerate(manifest["layers"])]


def write_trace_for_network(network_dir, out_dir, gates, block, reduce, base_partitions=4,
                            provenance=None, compressed=True):
    """Write a trace for the network in ``network_dir`` gated by PyTorch gate tensors.

    ``gates``: dict layer name → per-element gates ``[N, C_out, H_out, W_out]`` (0/1 or bool,
    NumPy or torch) of the layers to gate; every other layer stays ungated. The shapes come
    from the network, and each tensor must match its layer's output. ``block`` is ``(bc, bh,
    bw)`` or a dict layer name → block; ``reduce`` is as in ``gate_grid`` (required).
    ``base_partitions`` P gives ``ceil(C_in_g / P)`` base channels per group (C_in_g = C_in /
    groups), or ``0`` for no base path (the only way to gate a depthwise layer); an int or a
    dict layer name → P.
    """
    layers = read_network(network_dir)
    by_name = {layer["name"]: layer for layer in layers}
    for name in gates:
        if name not in by_name:
            some = ", ".join(list(by_name)[:5])
            raise ValueError(f"gates has an entry for {name!r}, which is not a layer of "
                             f"{network_dir} (layers: {some}, ...)")
    samples, masks = None, {}
    for layer in layers:
        name = layer["name"]
        if name not in gates:
            layer["gate"] = None
            continue
        g = _as_numpy(gates[name])
        want = (layer["out_channels"], layer["out_height"], layer["out_width"])
        if g.ndim != 4 or tuple(g.shape[1:]) != want:
            raise ValueError(f"layer {name!r}: gates have shape {tuple(g.shape)}; expected "
                             f"[N, {want[0]}, {want[1]}, {want[2]}] (the layer's output)")
        if samples is None:
            samples = g.shape[0]
        elif g.shape[0] != samples:
            raise ValueError(f"layer {name!r}: gates hold {g.shape[0]} samples but an earlier "
                             f"layer's hold {samples}")
        b = block[name] if isinstance(block, dict) else block
        p = base_partitions[name] if isinstance(base_partitions, dict) else base_partitions
        p = int(p)
        per_group = layer["in_channels"] // layer.get("groups", 1)
        base = 0 if p == 0 else math.ceil(per_group / p)
        if base >= per_group:
            raise ValueError(f"layer {name!r}: base partitions {p} leave no conditional channels "
                             f"({per_group} input channel(s) per group); use more partitions or "
                             f"0 for no base path")
        layer["gate"] = {"base_channels": base, "block": [int(x) for x in b]}
        masks[name] = gate_grid(g, b, reduce)
    if samples is None:
        raise ValueError("gates is empty; name at least one layer to gate")
    prov = {"network": os.path.abspath(network_dir), "reduce": reduce}
    prov.update(provenance or {})
    write_trace(out_dir, layers, masks, samples, provenance=prov, compressed=compressed)


def write_trace(out_dir, layers, masks, samples, provenance=None, compressed=True):
    """Check and write a trace directory ``out_dir`` (created if needed).

    ``layers``: list of manifest layer dicts (see ``conv_layer``/``fc_layer``);
    ``masks``: dict layer name → bool or 0/1 array ``[samples, gc, gh, gw]`` for every gated
    layer (NumPy arrays or anything ``np.asarray`` accepts, including CPU/GPU torch tensors);
    ``provenance``: a JSON-serialisable dict describing where the trace came from.
    """
    masks = {} if masks is None else masks
    samples = int(samples)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, found {samples}")
    if provenance is None:
        provenance = {}
    if not isinstance(provenance, dict):
        raise ValueError("provenance must be a dict")
    checked, arrays = [], {}
    names = set()
    for i, layer in enumerate(layers):
        layer = _check_layer(i, layer)
        if layer["name"] in names:
            raise ValueError(f"layer name {layer['name']!r} appears more than once")
        names.add(layer["name"])
        checked.append(layer)
        if layer["gate"] is None:
            continue
        name = layer["name"]
        if name not in masks:
            raise ValueError(f"layer {name!r}: is gated but masks has no entry for it")
        arrays[name] = _check_mask(name, masks[name], (samples,) + grid_shape(layer))
    for name in masks:
        if name not in arrays:
            raise ValueError(f"masks has an entry for {name!r}, which is not a gated layer")
    # Version 1 unless a layer uses a version-2 key, as the Rust writer does.
    version = 2 if any(k in layer for layer in checked for k in _V2_KEYS) else 1
    manifest = {"format": FORMAT, "version": version, "samples": samples, "layers": checked,
                "provenance": provenance}
    text = json.dumps(manifest, indent=2) + "\n"

    os.makedirs(out_dir, exist_ok=True)
    npz_path = os.path.join(out_dir, MASKS)
    if arrays:
        _atomic(npz_path, lambda f: _write_npz(f, arrays, compressed))
    elif os.path.exists(npz_path):
        os.remove(npz_path)
    _atomic(os.path.join(out_dir, MANIFEST), lambda f: f.write(text.encode("utf-8")))


def _as_numpy(x):
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _out_hw(layer):
    rule = layer.get("rule", "floor")
    kh, kw = layer["kernel"]
    d = int(layer.get("dilation", 1))
    end_h, end_w = layer.get("padding_end", (layer["padding"], layer["padding"]))
    return (output_size(layer["in_height"], kh, layer["stride"], layer["padding"], rule, d, end_h),
            output_size(layer["in_width"], kw, layer["stride"], layer["padding"], rule, d, end_w))


_MAX_DIM = 1 << 24  # the Rust reader's limit on every dimension
_REQUIRED = ("name", "kind", "in_channels", "in_height", "in_width", "out_channels", "kernel",
             "stride", "padding")
_V2_KEYS = ("groups", "dilation", "padding_end")
_OPTIONAL = ("out_height", "out_width", "gate", "rule") + _V2_KEYS


def _check_layer(i, layer):
    where = f"layer {i} ({layer.get('name', '?')!r})"
    for key in _REQUIRED:
        if key not in layer:
            raise ValueError(f"{where}: missing key {key!r}")
    for key in layer:
        if key not in _REQUIRED + _OPTIONAL:
            raise ValueError(f"{where}: unknown key {key!r}")
    if not isinstance(layer["name"], str) or not layer["name"]:
        raise ValueError(f"{where}: name must be a non-empty string")
    if layer["kind"] not in ("conv", "fc"):
        raise ValueError(f"{where}: kind must be 'conv' or 'fc', found {layer['kind']!r}")
    for key in ("in_channels", "in_height", "in_width", "out_channels", "stride"):
        if int(layer[key]) < 1:
            raise ValueError(f"{where}: {key} must be at least 1, found {layer[key]}")
        if int(layer[key]) >= _MAX_DIM:
            raise ValueError(f"{where}: {key} is absurdly large ({layer[key]}); expected below "
                             f"{_MAX_DIM}")
    if layer["kind"] == "fc":
        found = (layer["in_height"], layer["in_width"], list(layer["kernel"]), layer["stride"],
                 layer["padding"])
        if found != (1, 1, [1, 1], 1, 0):
            raise ValueError(f"{where}: kind 'fc' needs in_height 1, in_width 1, kernel [1, 1], "
                             f"stride 1, padding 0; found {found}")
    if layer["kind"] == "fc":
        for key in _V2_KEYS:
            if key in layer:
                raise ValueError(f"{where}: kind 'fc' takes no {key!r}")
    groups, dilation = int(layer.get("groups", 1)), int(layer.get("dilation", 1))
    if groups < 1 or dilation < 1:
        raise ValueError(f"{where}: groups and dilation must be at least 1, found {groups}, "
                         f"{dilation}")
    for key in ("in_channels", "out_channels"):
        if int(layer[key]) % groups:
            raise ValueError(f"{where}: groups {groups} does not divide {key} {layer[key]}")
    kh, kw = (int(k) for k in layer["kernel"])
    if min(kh, kw) < 1:
        raise ValueError(f"{where}: kernel {layer['kernel']} must be positive")
    pad = int(layer["padding"])
    end = [int(p) for p in layer.get("padding_end", (pad, pad))]
    for dim, size, k, e in (("height", layer["in_height"], kh, end[0]),
                            ("width", layer["in_width"], kw, end[1])):
        if dilation * (k - 1) + 1 > size + pad + e:
            raise ValueError(f"{where}: kernel {k} (dilation {dilation}) is larger than the "
                             f"padded input {dim} {size + pad + e}")
    out_h, out_w = _out_hw(layer)
    for key, computed in (("out_height", out_h), ("out_width", out_w)):
        if key in layer and int(layer[key]) != computed:
            raise ValueError(f"{where}: {key} is {layer[key]} but the shape gives {computed}")
    gate = layer.get("gate")
    if gate is not None:
        block = [int(b) for b in gate["block"]]
        if len(block) != 3 or min(block) < 1:
            raise ValueError(f"{where}: gate block {gate['block']} must be 3 positive sizes")
        if int(gate["base_channels"]) > int(layer["in_channels"]) // groups:
            raise ValueError(f"{where}: gate base_channels {gate['base_channels']} exceeds the "
                             f"{int(layer['in_channels']) // groups} input channels"
                             + (" of one group" if groups > 1 else ""))
        gate = {"base_channels": int(gate["base_channels"]), "block": block}
    out = {key: layer[key] for key in _REQUIRED}
    out["kernel"] = [kh, kw]
    if layer.get("rule", "floor") != "floor":
        out["rule"] = layer["rule"]
    out["out_height"], out["out_width"] = out_h, out_w
    # Version-2 keys, in the order the Rust writer uses, only where they differ from the
    # defaults.
    if groups != 1:
        out["groups"] = groups
    if dilation != 1:
        out["dilation"] = dilation
    if end != [pad, pad]:
        out["padding_end"] = end
    out["gate"] = gate
    return out


_DIMS = ("samples", "channel blocks", "row blocks", "column blocks")


def _check_mask(name, mask, expected):
    m = _as_numpy(mask)
    if m.ndim != 4:
        raise ValueError(f"layer {name!r}: mask has shape {m.shape}; expected 4 dimensions "
                         f"{expected} = [samples, channel blocks, row blocks, column blocks]")
    for d, (found, want) in enumerate(zip(m.shape, expected)):
        if found != want:
            raise ValueError(f"layer {name!r}: mask dimension {d} ({_DIMS[d]}) is {found}; "
                             f"expected {want} (shape {m.shape}, expected {expected})")
    if m.dtype != np.bool_:
        if not (np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating)):
            raise ValueError(f"layer {name!r}: mask dtype {m.dtype} is not boolean or 0/1")
        if not np.isin(m, (0, 1)).all():
            raise ValueError(f"layer {name!r}: mask holds values other than 0 and 1")
        m = m != 0
    return np.ascontiguousarray(m, dtype=np.bool_)


def _write_npz(f, arrays, compressed):
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    # Written entry by entry (as np.savez does internally) so any layer name works as a key.
    with zipfile.ZipFile(f, "w", compression=mode, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, arr, allow_pickle=False)


def _atomic(path, fill):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        # mkstemp creates 0600 files; give the trace the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _demo(out_dir):
    rng = np.random.default_rng(0)
    n = 8
    layers = [
        conv_layer("conv1", 1, 32, 32, 16),
        conv_layer("layer1.0.conv1", 16, 32, 32, 16, gate=(4, (16, 1, 1))),
        conv_layer("layer2.0.conv1", 16, 32, 32, 32, stride=2, gate=(4, (8, 2, 2))),
        fc_layer("fc", 32, 10),
    ]
    elem = rng.random((n, 16, 32, 32)) < 0.4
    masks = {
        "layer1.0.conv1": gate_grid(elem, (16, 1, 1), reduce="any"),
        "layer2.0.conv1": rng.random((n,) + grid_shape(layers[2])) < 0.5,
    }
    write_trace(out_dir, layers, masks, n, provenance={"tool": "cdg_trace.py --demo"})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--demo":
        _demo(sys.argv[2])
        print(f"wrote {sys.argv[2]}/{MANIFEST} and {MASKS}")
    else:
        print(__doc__)
        print("usage: python3 cdg_trace.py --demo OUT_DIR")
        sys.exit(2)

"""Regenerates crates/cdg-io/tests/data/trace-small and bad-manifests (run from anywhere)."""
import copy
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "python"))
import cdg_trace as ct  # noqa: E402

BASE = {"format": "cdg-trace", "version": 1, "samples": 2, "layers": [
    {"name": "conv1", "kind": "conv", "in_channels": 3, "in_height": 8, "in_width": 8,
     "out_channels": 8, "kernel": [3, 3], "stride": 1, "padding": 1, "gate": None},
    {"name": "block.conv", "kind": "conv", "in_channels": 8, "in_height": 8, "in_width": 8,
     "out_channels": 16, "kernel": [3, 3], "stride": 2, "padding": 1, "out_height": 4,
     "out_width": 4, "gate": {"base_channels": 2, "block": [8, 2, 1]}},
    {"name": "fc", "kind": "fc", "in_channels": 16, "in_height": 1, "in_width": 1,
     "out_channels": 10, "kernel": [1, 1], "stride": 1, "padding": 0, "gate": None}],
    "provenance": {"tool": "tests/data/io fixture, written by python/cdg_trace.py"}}


def main():
    os.chdir(HERE)
    s, c, h, w = np.meshgrid(np.arange(2), np.arange(2), np.arange(2), np.arange(4), indexing="ij")
    grid = ((2 * c + 3 * h + w) % 3 == 0) | ((s == 1) & (w == 3))
    ct.write_trace("trace-small", BASE["layers"], {"block.conv": grid}, 2,
                   provenance=BASE["provenance"], compressed=False)

    os.makedirs("bad-manifests", exist_ok=True)

    def case(name, mutate):
        m = copy.deepcopy(BASE)
        mutate(m)
        with open(f"bad-manifests/{name}.json", "w") as f:
            json.dump(m, f, indent=1)

    def layer(i, **kw):
        return lambda m: m["layers"][i].update(kw)

    case("wrong-format", lambda m: m.update(format="cdg-trace-v0"))
    case("unsupported-version", lambda m: m.update(version=3))
    case("zero-samples", lambda m: m.update(samples=0))
    case("absurd-samples", lambda m: m.update(samples=10**15))
    case("zero-channels", layer(1, in_channels=0))
    case("absurd-height", layer(1, in_height=10**9))
    case("stride-zero", layer(1, stride=0))
    case("kernel-too-large", layer(1, kernel=[11, 3]))
    case("base-above-input", layer(1, gate={"base_channels": 9, "block": [8, 2, 1]}))
    case("zero-gate-block", layer(1, gate={"base_channels": 2, "block": [8, 0, 1]}))
    case("out-height-mismatch", layer(1, out_height=5))
    case("unknown-layer-key", layer(1, strides=2))
    case("unknown-top-key", lambda m: m.update(sample_count=2))
    case("missing-samples", lambda m: m.pop("samples"))
    case("duplicate-names", layer(2, name="conv1"))
    case("fc-with-kernel", layer(2, kernel=[3, 3]))
    case("unknown-kind", layer(0, kind="deconv"))
    case("groups-in-version-1", layer(1, groups=2))
    case("groups-not-dividing", lambda m: (m.update(version=2), m["layers"][1].update(groups=3)))
    case("dilated-kernel-too-large",
         lambda m: (m.update(version=2), m["layers"][1].update(dilation=5)))
    case("fc-with-groups", lambda m: (m.update(version=2), m["layers"][2].update(groups=2)))
    case("base-above-group",
         lambda m: (m.update(version=2),
                    m["layers"][1].update(groups=4, gate={"base_channels": 3, "block": [8, 2, 1]})))
    with open("bad-manifests/not-json.json", "w") as f:
        f.write('{"format": "cdg-trace", "version": 1,\n  samples: 2}\n')
    with open("bad-manifests/empty.json", "w") as f:
        f.write("")
    with open("bad-manifests/non-utf8.json", "wb") as f:
        f.write(b'{"format": "cdg-trace\xff\xfe"}\n')
    with open("bad-manifests/top-array.json", "w") as f:
        f.write("[1, 2]\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Exports torchvision's ResNet-50 and MobileNetV2 with PyTorch's own ONNX exporter, weights
stripped, as real-exporter test files for `cdg import onnx`.

    python3 scripts/export_torchvision_onnx.py [--out crates/cdg-cli/tests/onnx-torch]

Needs torch, torchvision and onnx. Uses the TorchScript exporter (`dynamo=False`), whose graphs
carry the BatchNormalization, Identity and Flatten nodes of the module tree; the weights are
moved to an external data file that is then deleted (the importer never reads it), so each file
keeps only the graph. crates/cdg-cli/tests/it/import_onnx.rs checks that both import to the
shapes of the built-in networks. (The torch.export-based exporter was also checked by hand:
same layers and MACs; its graphs are about 4× larger, so they are not committed.)
"""

import argparse
import os
import tempfile


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "crates", "cdg-cli", "tests",
                                                  "onnx-torch"))
    out = ap.parse_args().out
    import onnx
    import torch
    from torchvision import models

    os.makedirs(out, exist_ok=True)
    for name, build in (("resnet50", models.resnet50), ("mobilenetv2", models.mobilenet_v2)):
        model = build(weights=None).eval()
        with tempfile.TemporaryDirectory() as tmp:
            full = os.path.join(tmp, f"{name}.onnx")
            torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), full, dynamo=False,
                              opset_version=17, input_names=["input"], output_names=["logits"])
            proto = onnx.load(full)
            stripped = os.path.join(tmp, "stripped.onnx")
            onnx.save_model(proto, stripped, save_as_external_data=True,
                            all_tensors_to_one_file=True, location="weights.bin",
                            size_threshold=0)
            with open(stripped, "rb") as f, open(os.path.join(out, f"{name}.onnx"), "wb") as g:
                g.write(f.read())
        print(f"wrote {out}/{name}.onnx (torch {torch.__version__})")


if __name__ == "__main__":
    main()

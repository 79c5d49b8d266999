#!/usr/bin/env python3
"""Writes the ONNX test files of `cdg import onnx` (needs only the `onnx` package, no torch).

    python3 scripts/make_onnx_fixtures.py [--out crates/cdg-cli/tests/onnx]

Three kinds of files, all small (weights are stored as external data that is not shipped, or
declared as graph inputs with shapes; only small shape constants carry data):

- ``NAME.onnx`` + ``NAME.csv``: a graph that exercises ops and attributes, and the layer table
  the importer must produce. The tables are computed here by this script's own shape tracking
  (independent of the Rust importer): every op below moves a Python (C, H, W) or full shape.
- ``zoo-NAME.onnx``: each built-in network of ``cdg_core::zoo`` as an ONNX graph (Conv, BN,
  Relu/Clip, MaxPool, Add, GlobalAveragePool, Flatten, Gemm) built from the published
  architectures as described here; the test compares the import with the zoo builder and with
  crates/cdg-core/tests/zoo/NAME.csv (torchvision).
- ``bad-NAME.onnx``: files the importer must refuse, with the error text in ``bad.csv``.

The output is byte-for-byte reproducible (fixed IR version, opsets and producer), which
crates/cdg-cli/tests/it/import_onnx.rs checks by re-running this script.
"""

import argparse
import os

import onnx
from onnx import TensorProto, helper

IR_VERSION = 8
PRODUCER = "cdg scripts/make_onnx_fixtures.py"
HEADER = ("name,kind,in_c,in_h,in_w,out_c,out_h,out_w,kernel_h,kernel_w,stride,padding,groups,"
          "dilation,macs")
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def conv_out(size, k, s, pb, pe, d=1):
    return (size + pb + pe - d * (k - 1) - 1) // s + 1


class Graph:
    """Builds an ONNX graph while tracking every tensor's shape and the expected layers."""

    def __init__(self, name, opset=17, weights="external"):
        self.name, self.opset, self.weights = name, opset, weights
        self.nodes, self.inits, self.inputs, self.rows = [], [], [], []
        self.shapes = {}
        self.count = 0
        self.offset = 0

    def fresh(self, hint="t"):
        self.count += 1
        return f"{hint}{self.count}"

    def input(self, name, shape, dims=None):
        self.inputs.append(helper.make_tensor_value_info(name, F, dims or shape))
        self.shapes[name] = list(shape)
        return name

    def weight(self, shape, hint="w"):
        """A weight whose values are not needed: external data or a declared graph input."""
        name = self.fresh(hint)
        if self.weights == "inputs":
            self.inputs.append(helper.make_tensor_value_info(name, F, shape))
        else:
            t = TensorProto()
            t.name = name
            t.data_type = F
            t.dims.extend(shape)
            t.data_location = TensorProto.EXTERNAL
            n = 4
            for d in shape:
                n *= d
            for k, v in (("location", f"{self.name}.weights.bin"), ("offset", str(self.offset)),
                         ("length", str(n))):
                e = t.external_data.add()
                e.key, e.value = k, v
            self.offset += n
            self.inits.append(t)
        self.shapes[name] = list(shape)
        return name

    def ints(self, values, hint="c"):
        name = self.fresh(hint)
        self.inits.append(helper.make_tensor(name, I64, [len(values)], list(values)))
        self.shapes[name] = [len(values)]
        return name

    def floats(self, values, hint="f"):
        name = self.fresh(hint)
        self.inits.append(helper.make_tensor(name, F, [len(values)], list(values)))
        self.shapes[name] = [len(values)]
        return name

    def scalar(self, value, hint="s"):
        name = self.fresh(hint)
        self.inits.append(helper.make_tensor(name, F, [], [value]))
        self.shapes[name] = []
        return name

    def node(self, op, inputs, shape, name=None, outputs=1, **attrs):
        outs = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        for o in outs:
            self.shapes[o] = list(shape)
        return outs[0]

    def row(self, name, kind, cin, h, w, cout, oh, ow, kh, kw, s, pad, g, d):
        macs = oh * ow * cout * kh * kw * (cin // g)
        self.rows.append(f"{name},{kind},{cin},{h},{w},{cout},{oh},{ow},{kh},{kw},{s},{pad},{g},"
                         f"{d},{macs}")

    def conv(self, x, cout, k, s=1, pads=None, d=1, g=1, name=None, auto_pad=None,
             kernel_attr=True, bias=False):
        n, cin, h, w = self.shapes[x]
        kh, kw = (k, k) if isinstance(k, int) else k
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            p = []
            for size, kk in ((h, kh), (w, kw)):
                out = -(-size // s)
                total = max((out - 1) * s + d * (kk - 1) + 1 - size, 0)
                small = total // 2
                p.append((small, total - small) if auto_pad == "SAME_UPPER" else
                         (total - small, small))
            (pt, pb), (pl, pr) = p
        elif auto_pad == "VALID":
            pt = pb = pl = pr = 0
        else:
            pad = (kh - 1) // 2 * d if pads is None else pads
            pt, pl, pb, pr = (pad,) * 4 if isinstance(pad, int) else pad
        oh, ow = conv_out(h, kh, s, pt, pb, d), conv_out(w, kw, s, pl, pr, d)
        wt = self.weight([cout, cin // g, kh, kw])
        inputs = [x, wt] + ([self.weight([cout], "b")] if bias else [])
        attrs = {"strides": [s, s], "dilations": [d, d], "group": g}
        if kernel_attr:
            attrs["kernel_shape"] = [kh, kw]
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = [pt, pl, pb, pr]
        name = self.fresh("conv") if name is None else name
        y = self.node("Conv", inputs, [n, cout, oh, ow], name=name, **attrs)
        pad_text = str(pt) if (pt, pl) == (pb, pr) == (pt, pt) else f"{pt}:{pb}:{pr}"
        self.row(name, "conv", cin, h, w, cout, oh, ow, kh, kw, s, pad_text, g, d)
        return y

    def gemm(self, x, out, name=None, trans_b=1):
        n, k = self.shapes[x]
        wt = self.weight([out, k] if trans_b else [k, out])
        name = name or self.fresh("gemm")
        y = self.node("Gemm", [x, wt, self.weight([out], "b")], [n, out], name=name,
                      transB=trans_b)
        self.row(name, "fc", k, 1, 1, out, 1, 1, 1, 1, 1, 0, 1, 1)
        return y

    def unary(self, op, x, **attrs):
        return self.node(op, [x], self.shapes[x], **attrs)

    def bn(self, x):
        c = self.shapes[x][1]
        ps = [self.weight([c], "bn") for _ in range(4)]
        return self.node("BatchNormalization", [x] + ps, self.shapes[x])

    def pool(self, op, x, k, s, pads=(0, 0, 0, 0), ceil=0, auto_pad=None):
        n, c, h, w = self.shapes[x]
        if auto_pad:
            out = [-(-h // s), -(-w // s)]
            attrs = {"auto_pad": auto_pad}
        else:
            out = []
            for size, pb, pe in ((h, pads[0], pads[2]), (w, pads[1], pads[3])):
                span = size + pb + pe - k
                o = (-(-span // s) if ceil else span // s) + 1
                if ceil and (o - 1) * s >= size + pb:
                    o -= 1
                out.append(o)
            attrs = {"pads": list(pads), "ceil_mode": ceil}
        return self.node(op, [x], [n, c] + out, kernel_shape=[k, k], strides=[s, s], **attrs)

    def gap(self, x):
        n, c = self.shapes[x][:2]
        return self.node("GlobalAveragePool", [x], [n, c, 1, 1])

    def flatten(self, x, axis=1):
        d = self.shapes[x]
        a, b = 1, 1
        for v in d[:axis]:
            a *= v
        for v in d[axis:]:
            b *= v
        return self.node("Flatten", [x], [a, b], axis=axis)

    def save(self, out_dir, file_name=None, outputs=None):
        outputs = outputs or [self.nodes[-1].output[0]]
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs,
            [helper.make_tensor_value_info(o, F, self.shapes[o]) for o in outputs],
            initializer=self.inits)
        model = helper.make_model(graph, producer_name=PRODUCER, ir_version=IR_VERSION,
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        write(os.path.join(out_dir, (file_name or self.name) + ".onnx"), model)
        return model

    def save_table(self, out_dir):
        with open(os.path.join(out_dir, self.name + ".csv"), "w", newline="\n") as f:
            f.write(HEADER + "\n" + "\n".join(self.rows) + "\n")


def write(path, model):
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Op and attribute fixtures.

def conv_attrs(out):
    g = Graph("conv-attrs", weights="inputs")
    x = g.input("image", [1, 3, 32, 32])
    x = g.conv(x, 16, 3, s=2, name="stem", bias=True)                   # 16×16
    x = g.conv(x, 16, 3, d=2, name="dilated")                            # pad 2, 16×16
    x = g.conv(x, 32, 3, g=4, name="grouped")                            # 4 groups
    x = g.conv(x, 32, 3, g=32, s=2, name="depthwise")                    # 8×8
    x = g.conv(x, 32, 3, s=2, auto_pad="SAME_UPPER", name="same_upper")  # 4×4, pads (0, 1)
    x = g.conv(x, 32, 3, auto_pad="SAME_LOWER", name="same_lower")       # pads (1, 1)
    x = g.conv(x, 24, 2, auto_pad="SAME_LOWER", name="same_lower_even")  # pads (1, 0)
    x = g.conv(x, 24, 3, auto_pad="VALID", name="valid")                 # 2×2
    x = g.conv(x, 24, 2, pads=(0, 0, 1, 1), name="asymmetric")           # 2×2
    x = g.conv(x, 8, (1, 1), kernel_attr=False, name="pointwise")        # no kernel_shape
    g.save(out)
    g.save_table(out)


def gemm_matmul(out):
    g = Graph("gemm-matmul")
    x = g.input("x", [1, 8, 4, 4])
    x = g.conv(x, 16, 1, name="proj")
    f = g.flatten(x)                                                      # 1×256
    y = g.gemm(f, 64, name="fc1")
    w = g.weight([64, 32])
    y = g.node("MatMul", [y, w], [1, 32], name="fc2")
    g.row("fc2", "fc", 64, 1, 1, 32, 1, 1, 1, 1, 1, 0, 1, 1)
    t = g.ints([1, 4, 8])
    seq = g.node("Reshape", [y, t], [1, 4, 8])
    w2 = g.weight([8, 5])
    y = g.node("MatMul", [seq, w2], [1, 4, 5], name="tokens")
    g.row("tokens", "conv", 8, 4, 1, 5, 4, 1, 1, 1, 1, 0, 1, 1)
    g.save(out)
    g.save_table(out)


def pools(out):
    g = Graph("pools")
    x = g.input("x", [1, 4, 17, 17])
    x = g.pool("MaxPool", x, 3, 2, (1, 1, 1, 1))                          # 9×9
    x = g.conv(x, 4, 1, name="after_maxpool")
    x = g.pool("MaxPool", x, 2, 2, ceil=1)                                # ceil(7/2)+1 = 5
    x = g.conv(x, 4, 1, name="after_ceil")
    x = g.pool("AveragePool", x, 2, 2, (0, 0, 1, 1), ceil=1)              # 3×3
    x = g.conv(x, 4, 1, name="after_avgpool")
    x = g.pool("AveragePool", x, 2, 2, auto_pad="SAME_UPPER")             # 2×2
    x = g.conv(x, 4, 1, name="after_same")
    x = g.gap(x)
    x = g.conv(x, 6, 1, name="after_gap")
    g.save(out)
    g.save_table(out)


def shapes(out):
    """Reshape (0 and -1), Concat, Flatten axis, the exporters' Shape→Gather→Concat pattern,
    Slice, Split, Transpose, Squeeze/Unsqueeze (input form), Pad (input form)."""
    g = Graph("shapes", opset=13)
    x = g.input("x", [1, 8, 6, 6])
    a = g.conv(x, 8, 3, name="branch_a")
    b = g.conv(x, 4, 1, name="branch_b")
    c = g.node("Concat", [a, b], [1, 12, 6, 6], axis=1)
    c = g.conv(c, 12, 1, name="after_concat")
    r = g.node("Reshape", [c, g.ints([0, 0, -1, 3])], [1, 12, 12, 3])
    r = g.conv(r, 6, 3, name="after_reshape")                             # 12×3
    # torch.flatten as the legacy exporter writes it: Shape, Gather(0), Unsqueeze, Concat.
    sh = g.node("Shape", [r], [4])
    n = g.node("Gather", [sh, g.ints([0])], [1], axis=0)
    flat = g.node("Concat", [n, g.ints([-1])], [2], axis=0)
    f = g.node("Reshape", [r, flat], [1, 6 * 12 * 3])
    f = g.gemm(f, 10, name="after_flatten_pattern")
    u = g.node("Unsqueeze", [f, g.ints([2, 3])], [1, 10, 1, 1])
    u = g.conv(u, 10, 1, name="after_unsqueeze")
    s = g.node("Squeeze", [u, g.ints([3])], [1, 10, 1])
    u = g.node("Unsqueeze", [s, g.ints([-1])], [1, 10, 1, 1])
    p = g.node("Pad", [u, g.ints([0, 0, 2, 1, 0, 0, 2, 1])], [1, 10, 5, 3])
    p = g.conv(p, 8, 3, name="after_pad")                                 # 5×3
    t = g.node("Transpose", [p], [1, 5, 3, 8], perm=[0, 2, 3, 1])
    t = g.node("Transpose", [t], [1, 8, 5, 3], perm=[0, 3, 1, 2])
    t = g.conv(t, 8, 1, name="after_transpose")
    sl = g.node("Slice", [t, g.ints([1]), g.ints([5]), g.ints([2]), g.ints([2])], [1, 8, 2, 3])
    sl = g.conv(sl, 8, 1, name="after_slice")
    parts = g.node("Split", [sl, g.ints([3, 5])], [1, 3, 2, 3], outputs=2, axis=1)
    g.shapes[g.nodes[-1].output[1]] = [1, 5, 2, 3]
    g.conv(g.nodes[-1].output[1], 4, 1, name="after_split")
    del parts
    g.save(out)
    g.save_table(out)


def attribute_forms(out):
    """Opset 9: Squeeze/Unsqueeze axes, Pad pads and Slice starts/ends/axes as attributes,
    Upsample with a scales input; opset 10: Resize(X, scales); opset 7: Upsample's scales
    attribute."""
    g = Graph("attribute-forms", opset=9)
    x = g.input("x", [1, 4, 8, 8])
    x = g.conv(x, 4, 3, name="first")
    u = g.node("Unsqueeze", [x], [1, 4, 1, 8, 8], axes=[2])
    s = g.node("Squeeze", [u], [1, 4, 8, 8], axes=[2])
    p = g.node("Pad", [s], [1, 4, 10, 9], pads=[0, 0, 1, 0, 0, 0, 1, 1])
    p = g.conv(p, 4, 3, pads=0, name="after_pad_attr")                    # 8×7
    sl = g.node("Slice", [p], [1, 4, 4, 7], starts=[0], ends=[4], axes=[2])
    sl = g.conv(sl, 4, 1, name="after_slice_attr")
    up = g.node("Upsample", [sl, g.floats([1, 1, 2, 3])], [1, 4, 8, 21])
    g.conv(up, 4, 3, name="after_upsample")
    g.save(out)
    g.save_table(out)
    r = Graph("resize-opset10", opset=10)
    x = r.input("x", [1, 2, 3, 5])
    x = r.conv(x, 2, 1, name="first")
    x = r.node("Resize", [x, r.floats([1, 1, 2, 2])], [1, 2, 6, 10])
    r.conv(x, 2, 1, name="after_resize")
    r.save(out)
    r.save_table(out)
    u = Graph("upsample-opset7", opset=7)
    x = u.input("x", [1, 2, 3, 3])
    x = u.conv(x, 2, 1, name="first")
    x = u.node("Upsample", [x], [1, 2, 6, 9], scales=[1.0, 1.0, 2.0, 3.0])
    u.conv(x, 2, 3, name="after_upsample")
    u.save(out)
    u.save_table(out)


def resize(out):
    g = Graph("resize", opset=13)
    x = g.input("x", [1, 4, 5, 7])
    x = g.conv(x, 4, 1, name="first")
    r = g.node("Resize", [x, "", g.floats([1, 1, 2, 2])], [1, 4, 10, 14], mode="nearest")
    r = g.conv(r, 4, 1, name="after_scales")
    r = g.node("Resize", [r, "", "", g.ints([1, 4, 3, 3])], [1, 4, 3, 3], mode="linear")
    r = g.conv(r, 4, 1, name="after_sizes")
    r = g.node("Resize", [r, "", g.floats([1, 1, 1.5, 2.5])], [1, 4, 4, 7])
    g.conv(r, 4, 1, name="after_fractional")
    g.save(out)
    g.save_table(out)


def elementwise(out):
    g = Graph("elementwise")
    x = g.input("x", [1, 8, 6, 6])
    a = g.conv(x, 8, 3, name="a")
    bias = g.weight([1, 8, 1, 1], "bias")
    y = g.node("Add", [a, bias], [1, 8, 6, 6])
    y = g.node("Mul", [y, g.scalar(0.5)], [1, 8, 6, 6])
    y = g.node("Sub", [y, g.weight([6], "row")], [1, 8, 6, 6])
    m = g.node("Greater", [y, g.scalar(0.0)], [1, 8, 6, 6])
    y = g.node("Where", [m, y, g.scalar(0.0)], [1, 8, 6, 6])
    y = g.node("Max", [y, a, g.weight([8, 1, 1], "m")], [1, 8, 6, 6])
    for op, attrs in (("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Sigmoid", {}),
                      ("HardSwish", {}), ("Tanh", {}), ("Identity", {}), ("Softmax", {"axis": 1}),
                      ("Dropout", {})):
        y = g.unary(op, y, **attrs)
    y = g.bn(y)
    y = g.node("Clip", [y, g.scalar(0.0), g.scalar(6.0)], [1, 8, 6, 6])
    y = g.node("ReduceMean", [y], [1, 8, 1, 1], axes=[2, 3], keepdims=1)
    g.conv(y, 4, 1, name="squeeze_excite")
    g.save(out)
    g.save_table(out)


def tf_style(out):
    """What tf2onnx writes for a Keras model: an NHWC input transposed to NCHW, SAME padding,
    ReLU6 as Clip, a depthwise conv, global pooling as ReduceMean without keepdims, and Dense
    as MatMul + Add."""
    g = Graph("tf-style", opset=13)
    x = g.input("input_1", [1, 30, 30, 3])
    x = g.node("Transpose", [x], [1, 3, 30, 30], perm=[0, 3, 1, 2])
    x = g.conv(x, 16, 3, s=2, auto_pad="SAME_UPPER", name="model/conv1/Conv2D")   # 15×15
    x = g.node("Clip", [x, g.scalar(0.0), g.scalar(6.0)], g.shapes[x])
    x = g.conv(x, 16, 3, s=2, g=16, auto_pad="SAME_UPPER", name="model/dw/depthwise")  # 8×8
    x = g.conv(x, 24, 1, auto_pad="SAME_UPPER", name="model/pw/Conv2D")
    x = g.node("ReduceMean", [x], [1, 24], axes=[2, 3], keepdims=0)
    y = g.node("MatMul", [x, g.weight([24, 10])], [1, 10], name="model/dense/MatMul")
    g.row("model/dense/MatMul", "fc", 24, 1, 1, 10, 1, 1, 1, 1, 1, 0, 1, 1)
    g.node("Add", [y, g.weight([10], "bias")], [1, 10])
    g.save(out)
    g.save_table(out)


def naming(out):
    """Unnamed nodes get `{op}_{index}`; repeated names get `_2`, `_3`."""
    g = Graph("naming")
    x = g.input("x", [1, 2, 4, 4])
    x = g.conv(x, 2, 1, name="")
    x = g.unary("Relu", x)
    x = g.conv(x, 2, 1, name="dup")
    x = g.conv(x, 2, 1, name="dup")
    x = g.conv(x, 2, 1, name="dup")
    g.save(out)
    g.rows = [r.split(",", 1)[1] for r in g.rows]
    names = ["conv_0", "dup", "dup_2", "dup_3"]
    g.rows = [f"{n},{r}" for n, r in zip(names, g.rows)]
    g.save_table(out)


def dynamic_batch(out):
    """Dynamic batch and size: imports with --input-shape x=2x3x20x20 (the table), fails
    without (bad.csv)."""
    g = Graph("dynamic")
    x = g.input("x", [2, 3, 20, 20], dims=["batch", 3, "height", 20])
    g.conv(x, 8, 3, s=2, name="stem")
    g.save(out)
    g.save_table(out)


# ---------------------------------------------------------------------------------------------
# Bad files: name → (bytes or model, expected error text); bad.csv pairs them.

def bad_files(out):
    cases = []

    def simple(opset=17, op="Conv", domain=None):
        g = Graph("bad", opset=opset)
        x = g.input("x", [1, 3, 8, 8])
        x = g.conv(x, 4, 3, name="conv")
        if op != "Conv":
            x = g.node(op, [x], [1, 4, 8, 8], name="custom")
            if domain:
                g.nodes[-1].domain = domain
            g.conv(x, 4, 1, name="after")
        return g

    good = simple()
    data = good.save(out, "bad-truncated")
    raw = data.SerializeToString()
    with open(os.path.join(out, "bad-truncated.onnx"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    cases.append(("bad-truncated", "not valid ONNX (protobuf ModelProto)"))
    simple(opset=99).save(out, "bad-opset")
    cases.append(("bad-opset", "model: opset 99 is not supported; cdg reads opsets 7 to 28"))
    g = simple()
    g.opset = 3
    g.save(out, "bad-old-opset")
    cases.append(("bad-old-opset", "model: opset 3 is not supported"))
    simple(op="MyCustomOp").save(out, "bad-unknown-op")
    cases.append(("bad-unknown-op", "node `custom` (MyCustomOp): op `MyCustomOp` is not supported"))
    simple(op="FusedConv", domain="com.microsoft").save(out, "bad-foreign-domain")
    cases.append(("bad-foreign-domain", "node `custom` (com.microsoft:FusedConv)"))
    cases.append(("dynamic", "graph input `x`: dimension 0 is dynamic (`batch`); give its shape "
                              "with --input-shape x="))

    g = Graph("bad")
    x = g.input("x", [1, 4, 6, 6])
    target = g.input("target", [3])
    y = g.node("Reshape", [x, target], [1, 4, 36], name="flatten_runtime")
    g.save(out, "bad-runtime-reshape")
    cases.append(("bad-runtime-reshape", "node `flatten_runtime` (Reshape): its target shape "
                                         "(input 1, `target`) is computed at run time"))

    g = Graph("bad")
    x = g.input("x", [1, 4, 6, 6])
    w = g.weight([8, 3, 3, 3])
    g.node("Conv", [x, w], [1, 8, 4, 4], name="mismatch", kernel_shape=[3, 3])
    g.save(out, "bad-channels")
    cases.append(("bad-channels", "node `mismatch` (Conv): input has 4 channels but the weight "
                                  "[8, 3, 3, 3] with group 1 expects 3"))

    g = Graph("bad")
    x = g.input("x", [1, 4, 6])
    y = g.input("y", [1, 6, 4])
    r = g.node("Relu", [y], [1, 6, 4])
    g.node("MatMul", [x, r], [1, 4, 4], name="attention")
    g.save(out, "bad-matmul-activations")
    cases.append(("bad-matmul-activations", "node `attention` (MatMul): second operand"))

    g = Graph("bad")
    x = g.input("x", [1, 4, 6, 6])
    w = g.weight([4, 4, 1, 3])
    g.node("Conv", [x, w], [1, 4, 6, 6], name="inception_1x3", kernel_shape=[1, 3],
           pads=[0, 1, 0, 1])
    g.save(out, "bad-pads-rows-columns")
    cases.append(("bad-pads-rows-columns", "node `inception_1x3` (Conv): pads begin with 0 rows "
                                           "but 1 columns"))

    g = Graph("bad")
    x = g.input("x", [1, 4, 6, 6])
    g.node("Relu", [x], [1, 4, 6, 6], name="relu_only")
    g.save(out, "bad-no-layers")
    cases.append(("bad-no-layers", "model: has no Conv, Gemm or MatMul node"))

    with open(os.path.join(out, "bad.csv"), "w", newline="\n") as f:
        f.write("file,error\n")
        for name, text in cases:
            f.write(f"{name}.onnx,\"{text}\"\n")


# ---------------------------------------------------------------------------------------------
# The zoo, described here independently of cdg's Rust builders.

def resnet(out, name, block, depths, imagenet):
    g = Graph(f"zoo-{name}", weights="external")
    size = 224 if imagenet else 32
    x = g.input("image", [1, 3, size, size])
    if imagenet:
        x = g.unary("Relu", g.bn(g.conv(x, 64, 7, s=2, name="conv1")))
        x = g.pool("MaxPool", x, 3, 2, (1, 1, 1, 1))
    else:
        x = g.unary("Relu", g.bn(g.conv(x, 64, 3, name="conv1")))
    expansion = 4 if block == "bottleneck" else 1
    for s, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(depth):
            stride = 2 if s > 0 and i == 0 else 1
            p = f"layer{s + 1}.{i}"
            identity = x
            cin = g.shapes[x][1]
            if block == "basic":
                y = g.unary("Relu", g.bn(g.conv(x, planes, 3, s=stride, name=f"{p}.conv1")))
                y = g.bn(g.conv(y, planes, 3, name=f"{p}.conv2"))
            else:
                y = g.unary("Relu", g.bn(g.conv(x, planes, 1, name=f"{p}.conv1")))
                y = g.unary("Relu", g.bn(g.conv(y, planes, 3, s=stride, name=f"{p}.conv2")))
                y = g.bn(g.conv(y, planes * 4, 1, name=f"{p}.conv3"))
            if stride != 1 or cin != planes * expansion:
                identity = g.bn(g.conv(x, planes * expansion, 1, s=stride,
                                       name=f"{p}.downsample"))
            x = g.unary("Relu", g.node("Add", [y, identity], g.shapes[y]))
    x = g.flatten(g.gap(x))
    g.gemm(x, 1000 if imagenet else 10, name="fc")
    g.save(out)


def make_divisible(v):
    n = max(8, int(v + 4) // 8 * 8)
    return n + 8 if n < 0.9 * v else n


def mobilenet_v2(out):
    g = Graph("zoo-mobilenetv2", weights="inputs")
    x = g.input("image", [1, 3, 224, 224])
    relu6 = (g.scalar(0.0, "zero"), g.scalar(6.0, "six"))

    def cbr(x, cout, k, s, groups, name):
        y = g.bn(g.conv(x, cout, k, s=s, g=groups, name=name))
        return g.node("Clip", [y, *relu6], g.shapes[y])

    x = cbr(x, 32, 3, 2, 1, "features.0.0")
    index = 1
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            cin = g.shapes[x][1]
            hidden = cin * t
            p = f"features.{index}.conv"
            y, part = x, 0
            if t != 1:
                y = cbr(y, hidden, 1, 1, 1, f"{p}.0.0")
                part = 1
            y = cbr(y, hidden, 3, stride, hidden, f"{p}.{part}.0")
            y = g.bn(g.conv(y, c, 1, name=f"{p}.{part + 1}"))
            if stride == 1 and cin == c:
                y = g.node("Add", [x, y], g.shapes[y])
            x = y
            index += 1
    x = cbr(x, 1280, 1, 1, 1, f"features.{index}.0")
    x = g.flatten(g.gap(x))
    x = g.unary("Dropout", x)
    g.gemm(x, 1000, name="classifier.1")
    g.save(out)


def vgg16(out):
    g = Graph("zoo-vgg16", weights="external")
    x = g.input("image", [1, 3, 224, 224])
    index = 0
    for c in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
              "M"):
        if c == "M":
            x = g.pool("MaxPool", x, 2, 2)
            index += 1
        else:
            x = g.unary("Relu", g.conv(x, c, 3, name=f"features.{index}", bias=True))
            index += 2
    x = g.flatten(x)
    x = g.unary("Dropout", g.unary("Relu", g.gemm(x, 4096, name="classifier.0")))
    x = g.unary("Dropout", g.unary("Relu", g.gemm(x, 4096, name="classifier.3")))
    g.gemm(x, 1000, name="classifier.6")
    g.save(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "crates", "cdg-cli", "tests",
                                                  "onnx"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    for make in (conv_attrs, gemm_matmul, pools, shapes, attribute_forms, resize,
                 elementwise, tf_style, naming, dynamic_batch, bad_files, mobilenet_v2, vgg16):
        make(out)
    resnet(out, "resnet18", "basic", (2, 2, 2, 2), True)
    resnet(out, "resnet34", "basic", (3, 4, 6, 3), True)
    resnet(out, "resnet50", "bottleneck", (3, 4, 6, 3), True)
    resnet(out, "resnet18-cifar", "basic", (2, 2, 2, 2), False)
    resnet(out, "resnet50-cifar", "bottleneck", (3, 4, 6, 3), False)


if __name__ == "__main__":
    main()

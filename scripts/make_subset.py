#!/usr/bin/env python3
"""Cut the built-in Fashion-MNIST subset (data/fashion-mnist-subset/) from the full set.

Takes the FIRST 10 000 training and the FIRST 2 000 test images (and their labels) from
the gzip IDX files of Debian's `dataset-fashion-mnist` package (or any directory holding
the four original files), rewrites the item count in each IDX header and writes gzip IDX
files with a fixed header (no file name, mtime 0), so the output is byte-identical on
every run. Standard library only.

    python3 scripts/make_subset.py [--source /usr/share/datasets/fashion-mnist] \
        [--out data/fashion-mnist-subset] [--train 10000] [--test 2000]
"""

import argparse
import gzip
import hashlib
import os
import struct
import sys

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndims = data[3]
    header_len = 4 + 4 * ndims
    dims = list(struct.unpack(">" + "I" * ndims, data[4:header_len]))
    return dims, data[header_len:]


def write_idx(path, dims, body):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    # mtime=0 and an empty file name keep the gzip stream reproducible.
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as f:
            f.write(header + body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data",
                                                  "fashion-mnist-subset"))
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for split, count in (("train", args.train), ("test", args.test)):
        for name in FILES[split]:
            src = os.path.join(args.source, name)
            dims, body = read_idx(src)
            if count > dims[0]:
                sys.exit(f"{src}: asked for {count} items, file has {dims[0]}")
            item = 1
            for d in dims[1:]:
                item *= d
            if len(body) < dims[0] * item:
                sys.exit(f"{src}: truncated: {len(body)} bytes for {dims[0]} items of {item}")
            dst = os.path.join(args.out, name)
            write_idx(dst, [count] + dims[1:], body[: count * item])
            with open(dst, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            print(f"{digest}  {name}")


if __name__ == "__main__":
    main()

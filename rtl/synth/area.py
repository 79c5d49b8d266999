#!/usr/bin/env python3
"""Area of a Yosys `stat` report of generic gates: each cell weighted by the area of the
NanGate FreePDK45 Open Cell Library (NangateOpenCellLibrary_typical.lib) X1 cell that
implements it, and expressed in NAND2 equivalents (NAND2_X1 = 0.798 µm²).
Usage: area.py NAME STAT_FILE  ->  NAME,cells,nand2_eq,area_um2"""
import re
import sys

# µm², NanGate 45 nm OCL X1 cells.
AREA_UM2 = {
    "$_NOT_": 0.532,     # INV_X1
    "$_NAND_": 0.798,    # NAND2_X1
    "$_NOR_": 0.798,     # NOR2_X1
    "$_AND_": 1.064,     # AND2_X1
    "$_OR_": 1.064,      # OR2_X1
    "$_XOR_": 1.596,     # XOR2_X1
    "$_XNOR_": 1.596,    # XNOR2_X1
    "$_MUX_": 1.862,     # MUX2_X1
    "$_ANDNOT_": 1.064,  # AND2_X1 with an inverted input (INV folded in)
    "$_ORNOT_": 1.064,
    "$_BUF_": 0.798,     # BUF_X1
}
DFF_UM2 = 4.522  # DFF_X1 (any $_DFF_*/$_SDFF*_ flavour: reset and enable as a gate or two)
NAND2_UM2 = 0.798

name, path = sys.argv[1], sys.argv[2]
cells = 0
area = 0.0
for line in open(path):
    m = re.match(r"\s+(\$_\w+)\s+(\d+)", line)
    if not m:
        continue
    kind, n = m.group(1), int(m.group(2))
    cells += n
    if "DFF" in kind or "DLATCH" in kind:
        extra = 1.064 * (kind.count("E") > 0) + 0.798 * (kind.startswith("$_SDFF"))
        area += n * (DFF_UM2 + extra)
    elif kind in AREA_UM2:
        area += n * AREA_UM2[kind]
    else:
        sys.exit(f"area.py: {path}: no area for cell {kind}")
print(f"{name},{cells},{area / NAND2_UM2:.1f},{area:.1f}")

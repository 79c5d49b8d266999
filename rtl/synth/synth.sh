#!/usr/bin/env bash
# Synthesizes the sparsity hardware of rtl/ to Yosys's generic gates and prints, per unit, the
# cell counts and their area in NAND2 equivalents and µm² at the NanGate FreePDK45 Open Cell
# Library's X1 cell areas (area.py). Usage: rtl/synth/synth.sh [R] [C]   (default 16 16)
# Needs yosys (0.23 checked) and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rtl="$here/.."
R="${1:-16}"
C="${2:-16}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
run() { # name top params files...
  local name="$1" top="$2" params="$3"
  shift 3
  local chparam=""
  for p in $params; do chparam="$chparam -set ${p%%=*} ${p#*=}"; done
  yosys -q -p "read_verilog -sv $*; chparam $chparam $top; synth -flatten -top $top; \
    abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; tee -o $out/$name.stat stat" >/dev/null
  python3 "$here/area.py" "$name" "$out/$name.stat"
}
echo "unit,cells,nand2_eq,area_um2"
for gp in 1 4 $R; do
  run "gather-os-gp$gp" cdg_gather "R=$R C=$C GP=$gp LIST=0" "$rtl/cdg_gather.sv"
  run "gather-list-gp$gp" cdg_gather "R=$R C=$C GP=$gp LIST=1" "$rtl/cdg_gather.sv"
done
run gate cdg_gate "SW=16 AW=32" "$rtl/cdg_gate.sv"
run pe-enable cdg_pe_enable "C=$C" "$rtl/cdg_pe_enable.sv"

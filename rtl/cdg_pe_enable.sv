// cdg_pe_enable: the per-PE clock-enable logic clock-gate, tile-skip and compact add to a PE
// (cdg_array.sv): the slot multiplies when both operands are valid and not (gating on, the
// fold conditional, the output's gate off); the gate bit is picked from the C-bit mask row the
// row token carries (OS) or travels with the partial sum (WS/IS). Synthesized alone to cost it
// (rtl/synth/synth.sh); cdg_array.sv has the same expression inline.
module cdg_pe_enable #(
    parameter int C = 16,
    parameter int COL = 0
) (
    input  logic         hv,
    input  logic         vv,
    input  logic         gate_en,
    input  logic         gated,
    input  logic [C-1:0] en_row,
    output logic         mac
);
  assign mac = hv && vv && !(gate_en && gated && !en_row[COL]);
endmodule

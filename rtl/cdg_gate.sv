// cdg_gate: the gate compare unit (docs/model.md §4, docs/training.md §3). It receives a gate
// block's saliencies s (signed fixed point) one per cycle with the block's output-channel
// threshold Δ, accumulates Σ (s − Δ) over the block, and on the block's last element emits the
// gate d = 1[Σ (s − Δ) > 0] (the sign of the block mean, without the division) — one compare
// per block, the model's `gate_op`. Fully pipelined: one element per cycle, a gate one cycle
// after its block's last element.
module cdg_gate #(
    parameter int SW = 16,  // saliency and threshold width
    parameter int AW = 32   // accumulator width (blocks up to 2^(AW-SW-1) elements)
) (
    input  logic                 clk,
    input  logic                 rst,
    input  logic                 in_v,
    input  logic                 in_last,  // the block's last element
    input  logic signed [SW-1:0] in_s,
    input  logic signed [SW-1:0] in_delta,
    output logic                 gate_v,
    output logic                 gate
);
  logic signed [AW-1:0] acc;
  wire signed [AW-1:0] term = AW'(in_s) - AW'(in_delta);
  wire signed [AW-1:0] total = acc + term;
  always_ff @(posedge clk) begin
    if (rst) begin
      acc <= '0;
      gate_v <= 0;
      gate <= 0;
    end else begin
      gate_v <= in_v && in_last;
      if (in_v) begin
        acc <= in_last ? '0 : total;
        if (in_last) gate <= total > 0;
      end
    end
  end
endmodule

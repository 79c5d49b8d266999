// cdg_gather: the `compact` gather unit (docs/model.md §5). For each column fold of the
// conditional pass (a job: its gather-axis extent E and its kept count |A_j|, which the gate
// unit counts as it writes the mask buffer) it scans the gather indices GP at a time, reading
// each index's C gate bits of the column from the mask buffer and OR-ing them, and writes the
// kept indices into the index buffer. It fills one unit ahead of the array: a pack of at most
// R indices on OS (LIST = 0), the column's whole list on WS and IS (LIST = 1); a unit closes at
// its R-th (OS) or the column's last kept index, so the scan of a unit of `scanned` indices
// takes ceil(scanned / GP) cycles. `ready` rises combinationally in the cycle the unit closes;
// the next unit's scan starts in the cycle after the array takes (`consume`) the current one,
// and the first after `go` (the array reached the conditional pass's first gathered fold).
module cdg_gather #(
    parameter int R = 4,
    parameter int C = 4,
    parameter int GP = 4,   // gather indices examined per cycle
    parameter int LIST = 0, // 0: packs of R (OS); 1: the column's whole list (WS, IS)
    parameter int IW = 16
) (
    input  logic              clk,
    input  logic              rst,
    input  logic              go,
    input  logic              consume,
    // Job j_no: the column fold to scan.
    output logic [31:0]       j_no,
    input  logic              j_valid,
    input  logic [IW-1:0]     j_extent,
    input  logic [IW-1:0]     j_kept,
    // Mask buffer: the C gate bits of gather indices gm_pos .. gm_pos + GP - 1 of job j_no.
    output logic [IW-1:0]     gm_pos,
    output logic              gm_re,
    input  logic [GP*C-1:0]   gm_bits,
    // Index buffer writes this cycle, and the unit closing.
    output logic [GP-1:0]     gw_v,
    output logic [GP*IW-1:0]  gw_idx,
    output logic              gw_close,
    output logic              ready
);
  typedef enum logic [1:0] {IDLE, SCAN, FULL} phase_t;
  phase_t phase;
  logic fresh;  // the job's fields are not loaded yet: position 0, j_kept left
  logic [IW-1:0] pos, remaining, fill;

  wire [IW-1:0] pos_eff = fresh ? '0 : pos;
  wire [IW-1:0] rem_eff = fresh ? j_kept : remaining;
  wire [IW-1:0] room = IW'(R) - fill;
  wire [IW-1:0] cap = (LIST != 0) ? rem_eff : ((room < rem_eff) ? room : rem_eff);
  wire scanning = (phase == SCAN) && j_valid && cap != 0;

  logic [IW-1:0] taken;
  logic closing;
  logic [IW-1:0] next_pos;

  logic [IW-1:0] n, o;  // loop temporaries: kept so far, the lane's index
  logic any;
  always_comb begin
    n = 0;
    o = 0;
    any = 0;
    gw_v = '0;
    gw_idx = '0;
    closing = 0;
    next_pos = pos_eff + IW'(GP);
    for (int l = 0; l < GP; l++) begin
      o = pos_eff + IW'(l);
      any = |gm_bits[l*C+:C];
      if (scanning && !closing && o < j_extent && any) begin
        gw_v[l] = 1;
        gw_idx[l*IW+:IW] = o;
        n = n + 1;
        if (n == cap) begin
          closing = 1;
          next_pos = o + 1;
        end
      end
    end
    taken = n;
    gm_pos = pos_eff;
    gm_re = scanning;
    gw_close = closing;
    ready = closing || (phase == FULL);
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      phase <= IDLE;
      j_no <= 0;
      fresh <= 1;
      pos <= 0;
      remaining <= 0;
      fill <= 0;
    end else begin
      case (phase)
        IDLE: if (go) phase <= SCAN;
        SCAN: if (scanning) begin
          pos <= next_pos;
          fresh <= 0;
          remaining <= rem_eff - taken;
          fill <= closing ? '0 : fill + taken;
          if (closing && consume) begin
            if (rem_eff == taken) begin
              j_no <= j_no + 1;
              fresh <= 1;
            end
          end else if (closing) begin
            phase <= FULL;
          end
        end
        FULL: if (consume) begin
          phase <= SCAN;
          if (remaining == 0) begin
            j_no <= j_no + 1;
            fresh <= 1;
          end
        end
        default: phase <= IDLE;
      endcase
    end
  end
endmodule

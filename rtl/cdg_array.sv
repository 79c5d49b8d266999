// cdg_array: the R×C systolic PE array of docs/model.md §2 with its fold sequencer, operand
// skew, per-PE clock enables from the mask buffer, and write-back. Parameterised by rows R,
// columns C and dataflow DF (0 = OS, 1 = WS, 2 = IS). The SRAMs, the mask buffer's storage and
// the schedule memory sit outside (the testbench serves them with one cycle of latency and
// counts every access); see rtl/README.md.
//
// Timeline of one fold (issue cycles c = 0 .. L-1, then the next fold starts):
//   OS:    c < T: stream step c (ifmap row lanes + filter column lanes);   L = T + R + C - 2
//   WS/IS: c < R: load stationary row R-1-c down the column load chains;
//          R <= c < R+T: stream step c-R, with a partial-sum lane per column; L = 2R + C + T - 2
// Requests pass three register stages (sequencer, step-index fetch, SRAM request), so every
// fold sees the same constant latency and folds follow each other with no bubble.
//
// Gated (conditional-pass) folds clock-gate the MAC of every output whose gate is off when
// `cfg_gate_en` is set (clock-gate, tile-skip, compact); the dense policy leaves it clear and
// computes every slot. A partial pack (fewer than R rows) costs the full fold time, as the
// model's statically scheduled array.
module cdg_array #(
    parameter int R = 4,
    parameter int C = 4,
    parameter int DF = 0,
    parameter int IW = 16, // index width of m, k, n
    parameter int GP = 4   // gather indices per cycle of the compact gather unit
) (
    input  logic                 clk,
    input  logic                 rst,
    input  logic                 start,
    input  logic                 cfg_gate_en,
    // Fold descriptor of fold number d_fold (presented by the schedule memory).
    output logic [31:0]          d_fold,
    input  logic                 d_valid,
    input  logic                 d_gated,
    input  logic [IW-1:0]        d_nrows,
    input  logic [IW-1:0]        d_ncols,
    input  logic [IW-1:0]        d_nsteps,
    input  logic [R*IW-1:0]      d_rows,
    input  logic [C*IW-1:0]      d_cols,
    // The fold takes a unit of gathered indices (compact): it waits for the gather unit.
    input  logic                 d_needs_gather,
    // Gather unit: job port, mask-buffer port and index-buffer writes (cdg_gather.sv).
    output logic [31:0]          g_job,
    input  logic                 g_job_valid,
    input  logic [IW-1:0]        g_job_extent,
    input  logic [IW-1:0]        g_job_kept,
    output logic [IW-1:0]        g_pos,
    output logic                 g_re,
    input  logic [GP*C-1:0]      g_bits,
    output logic [GP-1:0]        g_wv,
    output logic [GP*IW-1:0]     g_widx,
    output logic                 g_close,
    // Step-index fetch: index at position st_pos of fold st_fold, answered next cycle.
    output logic                 st_req,
    output logic [31:0]          st_fold,
    output logic [IW-1:0]        st_pos,
    input  logic [IW-1:0]        st_idx,
    // Operand reads: ifmap lanes (m, k) and filter lanes (k, n); data next cycle.
    output logic [L_A-1:0]       if_re,
    output logic [L_A*IW-1:0]    if_m,
    output logic [L_A*IW-1:0]    if_k,
    input  logic [L_A*8-1:0]     if_data,
    output logic [L_A-1:0]       fl_re,
    output logic [L_A*IW-1:0]    fl_k,
    output logic [L_A*IW-1:0]    fl_n,
    input  logic [L_A*8-1:0]     fl_data,
    // Mask buffer reads: gate bit of output (m, n); bit next cycle.
    output logic [L_M-1:0]       mk_re,
    output logic [L_M*IW-1:0]    mk_m,
    output logic [L_M*IW-1:0]    mk_n,
    input  logic [L_M-1:0]       mk_bit,
    // Partial-sum reads (WS/IS): stored partial sum of output (m, n); next cycle.
    output logic [C-1:0]         ps_re,
    output logic [C*IW-1:0]      ps_m,
    output logic [C*IW-1:0]      ps_n,
    input  logic [C*32-1:0]      ps_data,
    // Output writes: OS adds onto the stored output (one lane per PE); WS/IS write the
    // accumulated partial sum (one lane per column).
    output logic [L_W-1:0]       wr_v,
    output logic [L_W*IW-1:0]    wr_m,
    output logic [L_W*IW-1:0]    wr_n,
    output logic [L_W*32-1:0]    wr_val,
    // MACs performed this cycle (one bit per PE) and sequencer status.
    output logic [R*C-1:0]       mac_en,
    output logic                 busy,
    output logic                 stall
);
  localparam int L_A = (R > C) ? R : C;
  localparam int L_M = (DF == 0) ? R * C : C;
  localparam int L_W = (DF == 0) ? R * C : C;
  localparam bit OS = (DF == 0);
  localparam int RB = (R > 1) ? $clog2(R) : 1;

  // ------------------------------------------------------------------ sequencer
  logic running;
  logic [31:0] cnt, len;
  logic [IW-1:0] nrows, ncols, nsteps;
  logic gated;
  logic [IW-1:0] rows[R];
  logic [IW-1:0] cols[C];
  logic [31:0] fold_no;

  function automatic logic [31:0] fold_len(input logic [IW-1:0] t);
    if (OS) return 32'(t) + R + C - 2;
    else return 32'(t) + 2 * R + C - 2;
  endfunction

  wire fold_end = running && (cnt == len - 1);
  wire want = start && (!running || fold_end);
  logic g_ready;
  wire d_ready = !d_needs_gather || g_ready;
  wire take = want && d_valid && d_ready;
  assign stall = want && d_valid && !d_ready;

  cdg_gather #(.R(R), .C(C), .GP(GP), .LIST(DF == 0 ? 0 : 1), .IW(IW)) gather (
      .clk, .rst,
      .go(want && d_valid && d_needs_gather),
      .consume(take && d_needs_gather),
      .j_no(g_job), .j_valid(g_job_valid), .j_extent(g_job_extent), .j_kept(g_job_kept),
      .gm_pos(g_pos), .gm_re(g_re), .gm_bits(g_bits),
      .gw_v(g_wv), .gw_idx(g_widx), .gw_close(g_close), .ready(g_ready));

  always_ff @(posedge clk) begin
    if (rst) begin
      running <= 0;
      cnt <= 0;
      d_fold <= 0;
      len <= 0;
    end else if (take) begin
      running <= 1;
      cnt <= 0;
      len <= fold_len(d_nsteps);
      nrows <= d_nrows;
      ncols <= d_ncols;
      nsteps <= d_nsteps;
      gated <= d_gated;
      fold_no <= d_fold;
      for (int r = 0; r < R; r++) rows[r] <= d_rows[r*IW+:IW];
      for (int c = 0; c < C; c++) cols[c] <= d_cols[c*IW+:IW];
      d_fold <= d_fold + 1;
    end else if (fold_end) begin
      running <= 0;
    end else if (running) begin
      cnt <= cnt + 1;
    end
  end

  // ------------------------------------------------------------------ stage 0: step fetch
  // kind: 1 = stream step, 2 = stationary row load (WS/IS)
  logic [1:0] s0_kind;
  logic [IW-1:0] s0_pos;
  logic s0_first, s0_last, s0_gated;
  logic [IW-1:0] s0_nrows, s0_ncols;
  logic [IW-1:0] s0_rows[R];
  logic [IW-1:0] s0_cols[C];

  wire in_load = !OS && running && cnt < R;
  wire in_stream = running && (OS ? (cnt < 32'(nsteps)) : (cnt >= R && cnt < R + 32'(nsteps)));
  wire [31:0] spos = OS ? cnt : cnt - R;
  wire [31:0] lrow = R - 1 - cnt;  // the row a load cycle fills

  always_ff @(posedge clk) begin
    if (rst) begin
      s0_kind <= 0;
      st_req <= 0;
    end else begin
      s0_kind <= in_stream ? 2'd1 : (in_load ? 2'd2 : 2'd0);
      st_req <= in_stream;
      st_fold <= fold_no;
      st_pos <= in_stream ? spos[IW-1:0] : lrow[IW-1:0];
      s0_pos <= in_stream ? spos[IW-1:0] : lrow[IW-1:0];
      s0_first <= in_stream && spos == 0;
      s0_last <= in_stream && spos == 32'(nsteps) - 1;
      s0_gated <= gated;
      s0_nrows <= nrows;
      s0_ncols <= ncols;
      for (int r = 0; r < R; r++) s0_rows[r] <= rows[r];
      for (int c = 0; c < C; c++) s0_cols[c] <= cols[c];
    end
  end

  // ------------------------------------------------------------------ stage 1: SRAM requests
  logic [1:0] s1_kind;
  logic s1_first, s1_last, s1_gated;
  logic [IW-1:0] s1_rows[R];
  logic [IW-1:0] s1_cols[C];
  logic [IW-1:0] s1_step;
  logic [R-1:0] s1_rv;
  logic [C-1:0] s1_cv;

  always_ff @(posedge clk) begin
    if (rst) begin
      s1_kind <= 0;
      if_re <= 0;
      fl_re <= 0;
      mk_re <= 0;
      ps_re <= 0;
    end else begin
      s1_kind <= s0_kind;
      s1_first <= s0_first;
      s1_last <= s0_last;
      s1_gated <= s0_gated;
      s1_step <= st_idx;
      for (int r = 0; r < R; r++) begin
        s1_rows[r] <= s0_rows[r];
        s1_rv[r] <= (IW'(r) < s0_nrows);
      end
      for (int c = 0; c < C; c++) begin
        s1_cols[c] <= s0_cols[c];
        s1_cv[c] <= (IW'(c) < s0_ncols);
      end
      if_re <= 0;
      fl_re <= 0;
      mk_re <= 0;
      ps_re <= 0;
      if (OS) begin
        if (s0_kind == 1) begin
          for (int r = 0; r < R; r++) begin
            if_re[r] <= IW'(r) < s0_nrows;
            if_m[r*IW+:IW] <= s0_rows[r];
            if_k[r*IW+:IW] <= st_idx;
          end
          for (int c = 0; c < C; c++) begin
            fl_re[c] <= IW'(c) < s0_ncols;
            fl_k[c*IW+:IW] <= st_idx;
            fl_n[c*IW+:IW] <= s0_cols[c];
          end
          if (s0_first && s0_gated)
            for (int r = 0; r < R; r++)
              for (int c = 0; c < C; c++) begin
                mk_re[r*C+c] <= (IW'(r) < s0_nrows) && (IW'(c) < s0_ncols);
                mk_m[(r*C+c)*IW+:IW] <= s0_rows[r];
                mk_n[(r*C+c)*IW+:IW] <= s0_cols[c];
              end
        end
      end else if (s0_kind == 2) begin
        // Stationary row s0_pos: WS filter B[k_r][n_c], IS ifmap A[m_c][k_r].
        for (int c = 0; c < C; c++) begin
          if (DF == 1) begin
            fl_re[c] <= (s0_pos < s0_nrows) && (IW'(c) < s0_ncols);
            fl_k[c*IW+:IW] <= s0_rows[s0_pos[RB-1:0]];
            fl_n[c*IW+:IW] <= s0_cols[c];
          end else begin
            if_re[c] <= (s0_pos < s0_nrows) && (IW'(c) < s0_ncols);
            if_m[c*IW+:IW] <= s0_cols[c];
            if_k[c*IW+:IW] <= s0_rows[s0_pos[RB-1:0]];
          end
        end
      end else if (s0_kind == 1) begin
        // Streamed operand per row: WS ifmap A[m_s][k_r], IS filter B[k_r][n_s]; a partial
        // sum and a gate per column: output (m_s, n_c) for WS, (m_c, n_s) for IS.
        for (int r = 0; r < R; r++) begin
          if (DF == 1) begin
            if_re[r] <= IW'(r) < s0_nrows;
            if_m[r*IW+:IW] <= st_idx;
            if_k[r*IW+:IW] <= s0_rows[r];
          end else begin
            fl_re[r] <= IW'(r) < s0_nrows;
            fl_k[r*IW+:IW] <= s0_rows[r];
            fl_n[r*IW+:IW] <= st_idx;
          end
        end
        for (int c = 0; c < C; c++) begin
          ps_re[c] <= IW'(c) < s0_ncols;
          ps_m[c*IW+:IW] <= (DF == 1) ? st_idx : s0_cols[c];
          ps_n[c*IW+:IW] <= (DF == 1) ? s0_cols[c] : st_idx;
          mk_re[c] <= (IW'(c) < s0_ncols) && s0_gated;
          mk_m[c*IW+:IW] <= (DF == 1) ? st_idx : s0_cols[c];
          mk_n[c*IW+:IW] <= (DF == 1) ? s0_cols[c] : st_idx;
        end
      end
    end
  end

  // Tokens entering the array: row r's (left edge; OS ifmap, WS ifmap, IS filter) and column
  // c's (top edge; OS filter, WS/IS partial sum), each then delayed r (c) cycles by its skew
  // line, and the stationary row entering the load chains (WS/IS).
  localparam int RTW = 1 + 8 + IW + 3 + C;      // v, val, m, first, last, gated, en[C]
  localparam int CTW = 1 + 8 + IW + IW + 32 + 2; // v, val, n, m, psum, en, gated
  logic [RTW-1:0] r_entry[R];
  logic [CTW-1:0] c_entry[C];
  logic [C-1:0] en_hold[R];
  logic ld_v;
  logic signed [7:0] ld_val[C];
  logic ld_live[C];

  always_ff @(posedge clk) begin
    if (rst) begin
      ld_v <= 0;
    end else begin
      ld_v <= (s1_kind == 2);
      if (OS && s1_first)
        for (int r = 0; r < R; r++) en_hold[r] <= mk_bit[r*C+:C];
    end
    for (int c = 0; c < C; c++) begin
      ld_val[c] <= (DF == 1) ? fl_data[c*8+:8] : if_data[c*8+:8];
      ld_live[c] <= (DF == 1) ? fl_re[c] : if_re[c];
    end
  end

  always_comb begin
    for (int r = 0; r < R; r++)
      r_entry[r] = {(s1_kind == 1) && s1_rv[r],
                    (DF == 2) ? fl_data[r*8+:8] : if_data[r*8+:8],
                    s1_rows[r], s1_first, s1_last, s1_gated,
                    (OS && s1_first) ? mk_bit[r*C+:C] : en_hold[r]};
    for (int c = 0; c < C; c++)
      c_entry[c] = {(s1_kind == 1) && s1_cv[c],
                    fl_data[c*8+:8],
                    (DF == 2) ? s1_step : s1_cols[c],
                    (DF == 1) ? s1_step : s1_cols[c],
                    ps_data[c*32+:32],
                    s1_gated ? mk_bit[c] : 1'b1,
                    s1_gated};
  end

  for (genvar r = 0; r < R; r++) begin : rline
    logic [(r+1)*RTW-1:0] sk;
    always_ff @(posedge clk)
      if (rst) sk <= '0;
      else if (r == 0) sk <= r_entry[r];
      else sk <= {sk[(r > 0 ? r : 1)*RTW-1:0], r_entry[r]};
    wire [RTW-1:0] tok = sk[(r+1)*RTW-1-:RTW];
  end
  for (genvar c = 0; c < C; c++) begin : cline
    logic [(c+1)*CTW-1:0] sk;
    always_ff @(posedge clk)
      if (rst) sk <= '0;
      else if (c == 0) sk <= c_entry[c];
      else sk <= {sk[(c > 0 ? c : 1)*CTW-1:0], c_entry[c]};
    wire [CTW-1:0] tok = sk[(c+1)*CTW-1-:CTW];
  end

  // The PEs. Each holds the row-side token it passes right (h_*), the column-side token it
  // passes down (v_*), the stationary value (WS/IS) and the accumulator (OS).
  for (genvar r = 0; r < R; r++) begin : row
    for (genvar c = 0; c < C; c++) begin : col
      logic h_v, h_first, h_last, h_gated;
      logic signed [7:0] h_val;
      logic [IW-1:0] h_m;
      logic [C-1:0] h_en;
      logic v_v, v_en, v_gated;
      logic signed [7:0] v_val;
      logic [IW-1:0] v_n, v_m;
      logic signed [31:0] v_ps, v_p0;  // v_p0: the partial sum as it entered the column
      logic signed [7:0] st_val;
      logic signed [31:0] acc;
      logic o_v;  // OS: this PE writes its output this cycle
      logic [IW-1:0] o_m, o_n;
      logic signed [31:0] o_val;

      // Inputs: from the left neighbour (or the row's skew line) and from above.
      logic i_hv, i_first, i_last, i_hgated;
      logic signed [7:0] i_hval;
      logic [IW-1:0] i_m;
      logic [C-1:0] i_hen;
      logic i_vv, i_ven, i_vgated;
      logic signed [7:0] i_vval;
      logic [IW-1:0] i_n, i_vm;
      logic signed [31:0] i_ps, i_p0;
      logic signed [7:0] i_st;
      if (c == 0) begin : left_edge
        assign {i_hv, i_hval, i_m, i_first, i_last, i_hgated, i_hen} = rline[r].tok;
      end else begin : left_pe
        assign i_hv = row[r].col[c-1].h_v;
        assign i_hval = row[r].col[c-1].h_val;
        assign i_m = row[r].col[c-1].h_m;
        assign i_first = row[r].col[c-1].h_first;
        assign i_last = row[r].col[c-1].h_last;
        assign i_hgated = row[r].col[c-1].h_gated;
        assign i_hen = row[r].col[c-1].h_en;
      end
      if (r == 0) begin : top_edge
        assign {i_vv, i_vval, i_n, i_vm, i_ps, i_ven, i_vgated} = cline[c].tok;
        assign i_p0 = cline[c].tok[33:2];
        assign i_st = (ld_live[c] ? ld_val[c] : 8'sd0);
      end else begin : top_pe
        assign i_vv = row[r-1].col[c].v_v;
        assign i_vval = row[r-1].col[c].v_val;
        assign i_n = row[r-1].col[c].v_n;
        assign i_vm = row[r-1].col[c].v_m;
        assign i_ps = row[r-1].col[c].v_ps;
        assign i_p0 = row[r-1].col[c].v_p0;
        assign i_ven = row[r-1].col[c].v_en;
        assign i_vgated = row[r-1].col[c].v_gated;
        assign i_st = row[r-1].col[c].st_val;
      end

      // The gate of this slot's output: OS from the row token's mask row, WS/IS from the
      // partial-sum token. cfg_gate_en clock-gates a gated-off slot; otherwise (dense) it
      // computes and the result is discarded at write-back.
      wire gated = OS ? i_hgated : i_vgated;
      wire on = OS ? i_hen[c] : i_ven;
      wire mac = i_hv && i_vv && !(cfg_gate_en && gated && !on);
      assign mac_en[r*C+c] = mac;
      wire signed [31:0] prod = mac ? 32'(i_hval) * 32'(OS ? i_vval : st_val) : 32'sd0;
      wire signed [31:0] sum = (i_first ? 32'sd0 : acc) + prod;

      always_ff @(posedge clk) begin
        if (rst) begin
          h_v <= 0;
          v_v <= 0;
          o_v <= 0;
        end else begin
          h_v <= i_hv;
          v_v <= i_vv;
          o_v <= OS && i_hv && i_vv && i_last;
        end
        h_val <= i_hval;
        h_m <= i_m;
        h_first <= i_first;
        h_last <= i_last;
        h_gated <= i_hgated;
        h_en <= i_hen;
        v_val <= i_vval;
        v_n <= i_n;
        v_m <= i_vm;
        v_en <= i_ven;
        v_gated <= i_vgated;
        if (!OS && ld_v) st_val <= i_st;
        if (OS && i_hv && i_vv) acc <= sum;
        o_m <= i_m;
        o_n <= i_n;
        // A gated-off output of a conditional fold receives nothing.
        o_val <= (gated && !on) ? 32'sd0 : sum;
        v_ps <= i_ps + prod;
        v_p0 <= i_p0;
      end
      if (OS) begin : os_write
        assign wr_v[r*C+c] = o_v;
        assign wr_m[(r*C+c)*IW+:IW] = o_m;
        assign wr_n[(r*C+c)*IW+:IW] = o_n;
        assign wr_val[(r*C+c)*32+:32] = o_val;
      end
    end
  end

  // WS/IS: partial sums leave the bottom row into the ofmap SRAM (a gated-off output writes
  // back the partial sum it entered with).
  if (!OS) begin : bottom
    for (genvar c = 0; c < C; c++) begin : lane
      logic v;
      logic [IW-1:0] m, n;
      logic signed [31:0] val;
      always_ff @(posedge clk) begin
        v <= rst ? 1'b0 : row[R-1].col[c].v_v;
        m <= row[R-1].col[c].v_m;
        n <= row[R-1].col[c].v_n;
        val <= (row[R-1].col[c].v_gated && !row[R-1].col[c].v_en) ? row[R-1].col[c].v_p0
                                                                   : row[R-1].col[c].v_ps;
      end
      assign wr_v[c] = v;
      assign wr_m[c*IW+:IW] = m;
      assign wr_n[c*IW+:IW] = n;
      assign wr_val[c*32+:32] = val;
    end
  end

  assign busy = running;
endmodule

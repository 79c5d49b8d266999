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

  // ------------------------------------------------------------------ the array
  // Row-side tokens (left edge) and column-side tokens (top edge), after the skew lines.
  logic               lx_v   [R];
  logic signed [7:0]  lx_val [R];
  logic [IW-1:0]      lx_m   [R];
  logic               lx_first[R];
  logic               lx_last[R];
  logic               lx_gated[R];
  logic [C-1:0]       lx_en  [R];
  logic               tc_v   [C];
  logic signed [7:0]  tc_val [C];
  logic [IW-1:0]      tc_n   [C];
  logic signed [31:0] tc_ps  [C];
  logic [IW-1:0]      tc_m   [C];
  logic               tc_en  [C];
  logic               tc_gated[C];
  logic               ld_v;  // a stationary row enters the load chains
  logic signed [7:0]  ld_val [C];
  logic               ld_live[C];

  // Skew lines: row r delayed r cycles, column c delayed c cycles.
  logic               rx_v   [R][R];
  logic signed [7:0]  rx_val [R][R];
  logic [IW-1:0]      rx_m   [R][R];
  logic               rx_first[R][R];
  logic               rx_last[R][R];
  logic               rx_gated[R][R];
  logic [C-1:0]       rx_en  [R][R];
  logic               cx_v   [C][C];
  logic signed [7:0]  cx_val [C][C];
  logic [IW-1:0]      cx_n   [C][C];
  logic signed [31:0] cx_ps  [C][C];
  logic [IW-1:0]      cx_m   [C][C];
  logic               cx_en  [C][C];
  logic               cx_gated[C][C];
  logic [C-1:0]       en_hold[R];

  always_ff @(posedge clk) begin
    if (rst) begin
      for (int r = 0; r < R; r++) for (int d = 0; d < R; d++) rx_v[r][d] <= 0;
      for (int c = 0; c < C; c++) for (int d = 0; d < C; d++) cx_v[c][d] <= 0;
      ld_v <= 0;
    end else begin
      ld_v <= (s1_kind == 2);
      for (int c = 0; c < C; c++) begin
        ld_val[c] <= (DF == 1) ? fl_data[c*8+:8] : if_data[c*8+:8];
        ld_live[c] <= (DF == 1) ? fl_re[c] : if_re[c];
      end
      if (OS && s1_first)
        for (int r = 0; r < R; r++)
          for (int c = 0; c < C; c++) en_hold[r][c] <= mk_bit[r*C+c];
      for (int r = 0; r < R; r++) begin
        // Entry (delay 0), then shift along the line.
        rx_v[r][0] <= (s1_kind == 1) && s1_rv[r];
        rx_val[r][0] <= OS ? if_data[r*8+:8] : ((DF == 1) ? if_data[r*8+:8] : fl_data[r*8+:8]);
        rx_m[r][0] <= s1_rows[r];
        rx_first[r][0] <= s1_first;
        rx_last[r][0] <= s1_last;
        rx_gated[r][0] <= s1_gated;
        for (int c = 0; c < C; c++)
          rx_en[r][0][c] <= (OS && s1_first) ? mk_bit[r*C+c] : en_hold[r][c];
        for (int d = 1; d < R; d++) begin
          rx_v[r][d] <= rx_v[r][d-1];
          rx_val[r][d] <= rx_val[r][d-1];
          rx_m[r][d] <= rx_m[r][d-1];
          rx_first[r][d] <= rx_first[r][d-1];
          rx_last[r][d] <= rx_last[r][d-1];
          rx_gated[r][d] <= rx_gated[r][d-1];
          rx_en[r][d] <= rx_en[r][d-1];
        end
      end
      for (int c = 0; c < C; c++) begin
        cx_v[c][0] <= (s1_kind == 1) && s1_cv[c];
        cx_val[c][0] <= fl_data[c*8+:8];
        cx_n[c][0] <= OS ? s1_cols[c] : ((DF == 1) ? s1_cols[c] : s1_step);
        cx_m[c][0] <= (DF == 1) ? s1_step : s1_cols[c];
        cx_ps[c][0] <= $signed(ps_data[c*32+:32]);
        cx_en[c][0] <= s1_gated ? mk_bit[c] : 1'b1;
        cx_gated[c][0] <= s1_gated;
        for (int d = 1; d < C; d++) begin
          cx_v[c][d] <= cx_v[c][d-1];
          cx_val[c][d] <= cx_val[c][d-1];
          cx_n[c][d] <= cx_n[c][d-1];
          cx_m[c][d] <= cx_m[c][d-1];
          cx_ps[c][d] <= cx_ps[c][d-1];
          cx_en[c][d] <= cx_en[c][d-1];
          cx_gated[c][d] <= cx_gated[c][d-1];
        end
      end
    end
  end

  always_comb begin
    for (int r = 0; r < R; r++) begin
      lx_v[r] = rx_v[r][r];
      lx_val[r] = rx_val[r][r];
      lx_m[r] = rx_m[r][r];
      lx_first[r] = rx_first[r][r];
      lx_last[r] = rx_last[r][r];
      lx_gated[r] = rx_gated[r][r];
      lx_en[r] = rx_en[r][r];
    end
    for (int c = 0; c < C; c++) begin
      tc_v[c] = cx_v[c][c];
      tc_val[c] = cx_val[c][c];
      tc_n[c] = cx_n[c][c];
      tc_m[c] = cx_m[c][c];
      tc_ps[c] = cx_ps[c][c];
      tc_en[c] = cx_en[c][c];
      tc_gated[c] = cx_gated[c][c];
    end
  end

  // PE registers: horizontal (row-side) token, vertical (column-side) token, stationary value
  // and accumulator.
  logic               h_v    [R][C];
  logic signed [7:0]  h_val  [R][C];
  logic [IW-1:0]      h_m    [R][C];
  logic               h_first[R][C];
  logic               h_last [R][C];
  logic               h_gated[R][C];
  logic [C-1:0]       h_en   [R][C];
  logic               v_v    [R][C];
  logic signed [7:0]  v_val  [R][C];
  logic [IW-1:0]      v_n    [R][C];
  logic [IW-1:0]      v_m    [R][C];
  logic signed [31:0] v_ps   [R][C];
  logic signed [31:0] v_p0   [R][C];  // the partial sum as it entered the column
  logic               v_en   [R][C];
  logic               v_gated[R][C];
  logic signed [7:0]  st_val [R][C];
  logic signed [31:0] acc    [R][C];

  // Inputs of PE (r, c) and whether it multiplies this cycle.
  logic               in_hv [R][C];
  logic signed [7:0]  in_hval[R][C];
  logic               in_vv [R][C];
  logic               pe_mac[R][C];

  function automatic logic os_gated(input int r, input int c);
    return (c == 0) ? lx_gated[r] : h_gated[r][c-1];
  endfunction
  function automatic logic os_en(input int r, input int c);
    return (c == 0) ? lx_en[r][c] : h_en[r][c-1][c];
  endfunction
  function automatic logic ws_gated(input int r, input int c);
    return (r == 0) ? tc_gated[c] : v_gated[r-1][c];
  endfunction
  function automatic logic ws_en(input int r, input int c);
    return (r == 0) ? tc_en[c] : v_en[r-1][c];
  endfunction

  always_comb begin
    for (int r = 0; r < R; r++)
      for (int c = 0; c < C; c++) begin
        in_hv[r][c] = (c == 0) ? lx_v[r] : h_v[r][c-1];
        in_hval[r][c] = (c == 0) ? lx_val[r] : h_val[r][c-1];
        in_vv[r][c] = (r == 0) ? tc_v[c] : v_v[r-1][c];
        if (OS) pe_mac[r][c] = in_hv[r][c] && in_vv[r][c] &&
              !(cfg_gate_en && os_gated(r, c) && !os_en(r, c));
        else pe_mac[r][c] = in_hv[r][c] && in_vv[r][c] &&
              !(cfg_gate_en && ws_gated(r, c) && !ws_en(r, c));
        mac_en[r*C+c] = pe_mac[r][c];
      end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) begin
          h_v[r][c] <= 0;
          v_v[r][c] <= 0;
        end
      wr_v <= 0;
    end else begin
      wr_v <= 0;
      // Stationary load chains (WS/IS): shift one row down per load token.
      if (ld_v)
        for (int c = 0; c < C; c++) begin
          st_val[0][c] <= ld_live[c] ? ld_val[c] : 8'sd0;
          for (int r = 1; r < R; r++) st_val[r][c] <= st_val[r-1][c];
        end
      for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) begin
          h_v[r][c] <= in_hv[r][c];
          h_val[r][c] <= in_hval[r][c];
          h_m[r][c] <= (c == 0) ? lx_m[r] : h_m[r][c-1];
          h_first[r][c] <= (c == 0) ? lx_first[r] : h_first[r][c-1];
          h_last[r][c] <= (c == 0) ? lx_last[r] : h_last[r][c-1];
          h_gated[r][c] <= (c == 0) ? lx_gated[r] : h_gated[r][c-1];
          h_en[r][c] <= (c == 0) ? lx_en[r] : h_en[r][c-1];
          v_v[r][c] <= in_vv[r][c];
          v_val[r][c] <= (r == 0) ? tc_val[c] : v_val[r-1][c];
          v_n[r][c] <= (r == 0) ? tc_n[c] : v_n[r-1][c];
          v_m[r][c] <= (r == 0) ? tc_m[c] : v_m[r-1][c];
          v_en[r][c] <= (r == 0) ? tc_en[c] : v_en[r-1][c];
          v_gated[r][c] <= (r == 0) ? tc_gated[c] : v_gated[r-1][c];
          if (OS) begin
            if (in_hv[r][c] && in_vv[r][c]) begin
              automatic logic signed [7:0] bv = (r == 0) ? tc_val[c] : v_val[r-1][c];
              automatic logic signed [31:0] prod = pe_mac[r][c] ?
                  32'(in_hval[r][c]) * 32'(bv) : 32'sd0;
              automatic logic signed [31:0] sum =
                  (((c == 0) ? lx_first[r] : h_first[r][c-1]) ? 32'sd0 : acc[r][c]) + prod;
              acc[r][c] <= sum;
              if ((c == 0) ? lx_last[r] : h_last[r][c-1]) begin
                wr_v[r*C+c] <= 1;
                wr_m[(r*C+c)*IW+:IW] <= (c == 0) ? lx_m[r] : h_m[r][c-1];
                wr_n[(r*C+c)*IW+:IW] <= (r == 0) ? tc_n[c] : v_n[r-1][c];
                // A gated-off output of a conditional fold gets nothing (the dense policy
                // computed its MACs and discards them here).
                wr_val[(r*C+c)*32+:32] <= (os_gated(r, c) && !os_en(r, c)) ? 32'sd0 : sum;
              end
            end
          end else begin
            automatic logic signed [31:0] p_in = (r == 0) ? tc_ps[c] : v_ps[r-1][c];
            v_ps[r][c] <= p_in + (pe_mac[r][c] ? 32'(in_hval[r][c]) * 32'(st_val[r][c]) : 32'sd0);
            v_p0[r][c] <= (r == 0) ? tc_ps[c] : v_p0[r-1][c];
          end
        end
      if (!OS)
        for (int c = 0; c < C; c++) begin
          wr_v[c] <= v_v[R-1][c];
          wr_m[c*IW+:IW] <= v_m[R-1][c];
          wr_n[c*IW+:IW] <= v_n[R-1][c];
          wr_val[c*32+:32] <= (v_gated[R-1][c] && !v_en[R-1][c]) ? v_p0[R-1][c] : v_ps[R-1][c];
        end
    end
  end

  assign busy = running;
endmodule

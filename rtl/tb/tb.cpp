// Verilator testbench of cdg_array: reads a schedule file written by `cdg rtl check`
// (docs/formats.md §7), serves the array's SRAM, mask-buffer and schedule ports with one cycle
// of latency, runs the schedule fold for fold, checks every output against the file's expected
// values, and prints what it counted as `key value` lines:
//   cycles            first operand entering the array .. last output written, inclusive
//   macs              MACs performed (PE enabled with both operands)
//   sram_ifmap_reads, sram_filter_reads, sram_ofmap_writes, sram_psum_reads   (elements)
//   gather_stalls     cycles the fold sequencer waited for the gather unit
//   folds             folds the sequencer took
//   gather_units      units (packs, column lists) the gather unit produced under compact
//   gather_match      1 when every unit equals the schedule's index list
//   mismatches        outputs that differ from the expected values
//   outputs_match     1 when every output equals the expected value
// Usage: tb SCHEDULE_FILE   (exit 0 after a completed run, 2 on a malformed file).
#include <verilated.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "Vcdg_array.h"

// The gather unit's parallelism the model was built with (-DCDG_GP=N).
#ifndef CDG_GP
#error "build with -DCDG_GP=<the gather unit's indices per cycle>"
#endif

namespace {

[[noreturn]] void die(const std::string& file, const std::string& what) {
  std::fprintf(stderr, "tb: %s: %s\n", file.c_str(), what.c_str());
  std::exit(2);
}

// Bit fields of a Verilator port: an integral type up to 64 bits or a VlWide.
template <class T>
uint64_t get_bits(const T& port, int lo, int width) {
  if constexpr (std::is_integral_v<T>) {
    uint64_t v = static_cast<uint64_t>(port) >> lo;
    return width >= 64 ? v : (v & ((uint64_t{1} << width) - 1));
  } else {
    uint64_t v = 0;
    for (int i = 0; i < width; i++) {
      int b = lo + i;
      if ((port[b / 32] >> (b % 32)) & 1u) v |= uint64_t{1} << i;
    }
    return v;
  }
}

template <class T>
void set_bits(T& port, int lo, int width, uint64_t value) {
  if constexpr (std::is_integral_v<T>) {
    uint64_t mask = (width >= 64 ? ~uint64_t{0} : ((uint64_t{1} << width) - 1)) << lo;
    uint64_t p = static_cast<uint64_t>(port);
    p = (p & ~mask) | ((value << lo) & mask);
    port = static_cast<T>(p);
  } else {
    for (int i = 0; i < width; i++) {
      int b = lo + i;
      uint32_t bit = 1u << (b % 32);
      if ((value >> i) & 1u)
        port[b / 32] |= bit;
      else
        port[b / 32] &= ~bit;
    }
  }
}

struct Fold {
  std::vector<uint32_t> rows, cols, steps;
  bool gated = false;
};

struct Case {
  std::string layer, dataflow, policy;
  int R = 0, C = 0;
  uint64_t M = 0, K = 0, N = 0, k_base = 0, gather = 1;
  std::vector<int64_t> a, b, expect;
  std::vector<uint8_t> mask;
  std::vector<Fold> folds;
};

Case read_case(const std::string& path) {
  std::ifstream in(path);
  if (!in) die(path, "cannot open");
  Case c;
  std::string tok, ver;
  in >> tok >> ver;
  if (tok != "cdg-rtl-schedule" || ver != "1")
    die(path, "not a cdg-rtl-schedule 1 file (first line: " + tok + " " + ver + ")");
  auto expect_tok = [&](const char* want) {
    in >> tok;
    if (tok != want) die(path, std::string("expected `") + want + "`, found `" + tok + "`");
  };
  auto read_matrix = [&](const char* name, uint64_t rows, uint64_t cols,
                         std::vector<int64_t>& out) {
    expect_tok(name);
    uint64_t r = 0, q = 0;
    in >> r >> q;
    if (r != rows || q != cols)
      die(path, std::string(name) + " is " + std::to_string(r) + "x" + std::to_string(q) +
                    "; expected " + std::to_string(rows) + "x" + std::to_string(cols));
    out.resize(rows * cols);
    for (auto& v : out)
      if (!(in >> v)) die(path, std::string("short matrix ") + name);
  };
  auto read_list = [&](std::vector<uint32_t>& out) {
    uint64_t n = 0;
    in >> n;
    out.resize(n);
    for (auto& v : out)
      if (!(in >> v)) die(path, "short fold index list");
  };
  auto read_pass = [&](const char* name, bool gated) {
    expect_tok(name);
    uint64_t n = 0;
    in >> n;
    for (uint64_t i = 0; i < n; i++) {
      expect_tok("fold");
      Fold f;
      read_list(f.rows);
      read_list(f.cols);
      read_list(f.steps);
      f.gated = gated;
      c.folds.push_back(std::move(f));
    }
  };
  expect_tok("layer");
  in >> c.layer;
  expect_tok("dataflow");
  in >> c.dataflow;
  expect_tok("array");
  in >> c.R >> c.C;
  expect_tok("policy");
  in >> c.policy;
  expect_tok("gather_rows_per_cycle");
  in >> c.gather;
  expect_tok("gemm");
  in >> c.M >> c.K >> c.N;
  expect_tok("k_base");
  in >> c.k_base;
  expect_tok("sample");
  in >> tok;
  expect_tok("seed");
  in >> tok;
  read_matrix("a", c.M, c.K, c.a);
  read_matrix("b", c.K, c.N, c.b);
  expect_tok("mask");
  uint64_t mr = 0, mc = 0;
  in >> mr >> mc;
  if (mr != c.M || mc != c.N) die(path, "mask shape differs from the GEMM's M x N");
  c.mask.resize(c.M * c.N);
  for (uint64_t m = 0; m < c.M; m++) {
    in >> tok;
    if (tok.size() != c.N) die(path, "mask row " + std::to_string(m) + " has the wrong length");
    for (uint64_t n = 0; n < c.N; n++) c.mask[m * c.N + n] = tok[n] == '1';
  }
  read_pass("base", false);
  read_pass("cond", true);
  read_matrix("expect", c.M, c.N, c.expect);
  expect_tok("end");
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tb SCHEDULE_FILE\n");
    return 2;
  }
  const std::string path = argv[1];
  Case cs = read_case(path);
  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vcdg_array>(ctx.get());
  const int R = cs.R, C = cs.C, IW = 16;
  const int df = cs.dataflow == "os" ? 0 : cs.dataflow == "ws" ? 1 : 2;
  const bool os = df == 0;
  const int LA = R > C ? R : C, LM = os ? R * C : C, LW = os ? R * C : C;
  for (const auto& f : cs.folds) {
    if (f.rows.size() > size_t(R) || f.cols.size() > size_t(C))
      die(path, "a fold is larger than the array");
    if (f.steps.size() >= (1u << IW)) die(path, "a fold streams more than 65535 steps");
  }
  if (cs.M >= (1u << IW) || cs.K >= (1u << IW) || cs.N >= (1u << IW))
    die(path, "a GEMM dimension is 65536 or more (16-bit indices)");

  if (cs.gather != CDG_GP)
    die(path, "gather_rows_per_cycle " + std::to_string(cs.gather) +
                  " differs from the model's build (" + std::to_string(CDG_GP) + ")");
  // The gather unit's work under compact: which folds take a unit of gathered indices (every
  // conditional OS fold; the first row fold of each column on WS/IS), the units' expected index
  // lists (the schedule's), and one job per column fold with its kept count from the mask (what
  // the gate unit counts as it writes the mask buffer).
  const bool compact = cs.policy == "compact";
  const uint64_t extent = df == 2 ? cs.N : cs.M;
  auto gate = [&](uint64_t o, uint64_t c) -> bool {
    return df == 2 ? cs.mask[c * cs.N + o] : cs.mask[o * cs.N + c];
  };
  struct Job {
    std::vector<uint32_t> cols;
    uint64_t kept = 0;
  };
  std::vector<uint8_t> needs(cs.folds.size(), 0);
  std::vector<std::vector<uint32_t>> units;
  std::vector<Job> jobs;
  for (size_t i = 0; i < cs.folds.size() && compact; i++) {
    const Fold& f = cs.folds[i];
    if (!f.gated) continue;
    bool same_col = i > 0 && cs.folds[i - 1].gated && cs.folds[i - 1].cols == f.cols;
    if (!same_col) {
      Job j;
      j.cols = f.cols;
      for (uint64_t o = 0; o < extent; o++) {
        bool any = false;
        for (uint32_t c : f.cols) any = any || gate(o, c);
        j.kept += any;
      }
      jobs.push_back(std::move(j));
    }
    if (os) {
      needs[i] = 1;
      units.push_back(f.rows);
    } else if (!same_col) {
      needs[i] = 1;
      units.push_back(f.steps);
    }
  }
  size_t unit_no = 0;
  uint64_t gather_mismatches = 0;
  std::vector<uint32_t> unit_list;

  std::vector<int64_t> out(cs.M * cs.N, 0);
  std::vector<uint8_t> written(cs.M * cs.N, 0);
  uint64_t if_reads = 0, fl_reads = 0, of_writes = 0, ps_reads = 0, macs = 0, stalls = 0;
  int64_t first = -1, last = -1;

  auto eval_edge = [&]() {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
  };
  top->rst = 1;
  top->start = 0;
  top->d_needs_gather = 0;
  top->g_job_valid = 0;
  eval_edge();
  eval_edge();
  top->rst = 0;
  top->start = 1;
  top->cfg_gate_en = cs.policy != "dense";
  const uint64_t nfolds = cs.folds.size();
  int64_t cycle = 0, quiet = 0;
  const int64_t drain = 2 * (R + C) + 16;
  bool any_read = false;
  while (true) {
    // Outputs registered at the last edge: writes first, then reads (their answers are
    // sampled at the next edge).
    for (int l = 0; l < LW; l++) {
      if (!get_bits(top->wr_v, l, 1)) continue;
      uint64_t m = get_bits(top->wr_m, l * IW, IW), n = get_bits(top->wr_n, l * IW, IW);
      int64_t v = static_cast<int32_t>(get_bits(top->wr_val, l * 32, 32));
      if (m >= cs.M || n >= cs.N) die(path, "the array wrote an output outside the GEMM");
      uint64_t e = m * cs.N + n;
      if (os) {
        if (written[e]) ps_reads++;
        out[e] = (written[e] ? out[e] : 0) + v;
      } else {
        out[e] = v;
      }
      written[e] = 1;
      of_writes++;
      last = cycle;
    }
    any_read = false;
    for (int l = 0; l < LA; l++) {
      if (get_bits(top->if_re, l, 1)) {
        uint64_t m = get_bits(top->if_m, l * IW, IW), k = get_bits(top->if_k, l * IW, IW);
        if (m >= cs.M || k >= cs.K) die(path, "ifmap read outside A");
        set_bits(top->if_data, l * 8, 8, static_cast<uint64_t>(cs.a[m * cs.K + k]) & 0xff);
        if_reads++;
        any_read = true;
      }
      if (get_bits(top->fl_re, l, 1)) {
        uint64_t k = get_bits(top->fl_k, l * IW, IW), n = get_bits(top->fl_n, l * IW, IW);
        if (k >= cs.K || n >= cs.N) die(path, "filter read outside B");
        set_bits(top->fl_data, l * 8, 8, static_cast<uint64_t>(cs.b[k * cs.N + n]) & 0xff);
        fl_reads++;
        any_read = true;
      }
    }
    for (int l = 0; l < LM; l++) {
      if (!get_bits(top->mk_re, l, 1)) continue;
      uint64_t m = get_bits(top->mk_m, l * IW, IW), n = get_bits(top->mk_n, l * IW, IW);
      if (m >= cs.M || n >= cs.N) die(path, "mask read outside M x N");
      set_bits(top->mk_bit, l, 1, cs.mask[m * cs.N + n]);
    }
    if (!os)
      for (int l = 0; l < C; l++) {
        if (!get_bits(top->ps_re, l, 1)) continue;
        uint64_t m = get_bits(top->ps_m, l * IW, IW), n = get_bits(top->ps_n, l * IW, IW);
        if (m >= cs.M || n >= cs.N) die(path, "partial-sum read outside M x N");
        uint64_t e = m * cs.N + n;
        int64_t v = 0;
        if (written[e]) {
          ps_reads++;
          v = out[e];
        }
        set_bits(top->ps_data, l * 32, 32, static_cast<uint64_t>(v) & 0xffffffffu);
      }
    if (top->st_req) {
      uint64_t f = top->st_fold, p = top->st_pos;
      if (f >= nfolds || p >= cs.folds[f].steps.size()) die(path, "step fetch outside the schedule");
      top->st_idx = cs.folds[f].steps[p];
    }
    const uint64_t df_no = top->d_fold;
    top->d_valid = df_no < nfolds;
    if (df_no < nfolds) {
      const Fold& f = cs.folds[df_no];
      top->d_gated = f.gated;
      top->d_nrows = f.rows.size();
      top->d_ncols = f.cols.size();
      top->d_nsteps = f.steps.size();
      for (int r = 0; r < R; r++)
        set_bits(top->d_rows, r * IW, IW, r < int(f.rows.size()) ? f.rows[r] : 0);
      for (int c = 0; c < C; c++)
        set_bits(top->d_cols, c * IW, IW, c < int(f.cols.size()) ? f.cols[c] : 0);
    }
    top->d_needs_gather = df_no < nfolds && needs[df_no];
    const uint64_t jn = top->g_job;
    top->g_job_valid = jn < jobs.size();
    if (jn < jobs.size()) {
      top->g_job_extent = extent;
      top->g_job_kept = jobs[jn].kept;
      const uint64_t pos = top->g_pos;
      for (int l = 0; l < CDG_GP; l++)
        for (int c = 0; c < C; c++) {
          bool bit = c < int(jobs[jn].cols.size()) && pos + l < extent &&
                     gate(pos + l, jobs[jn].cols[c]);
          set_bits(top->g_bits, l * C + c, 1, bit);
        }
    }
    // Settle the combinational paths (the gather unit's writes and ready), then the edge.
    top->clk = 0;
    top->eval();
    for (int l = 0; l < CDG_GP; l++)
      if (get_bits(top->g_wv, l, 1)) unit_list.push_back(get_bits(top->g_widx, l * IW, IW));
    if (top->g_close) {
      if (unit_no >= units.size() || unit_list != units[unit_no]) {
        if (gather_mismatches < 3)
          std::fprintf(stderr, "tb: gather unit %zu differs from the schedule's indices\n",
                       unit_no);
        gather_mismatches++;
      }
      unit_no++;
      unit_list.clear();
    }
    for (int i = 0; i < R * C; i++) macs += get_bits(top->mac_en, i, 1);
    if (top->stall) stalls++;
    top->clk = 1;
    top->eval();
    cycle++;
    // The answers just sampled: the first operand entered the array at this edge.
    if (any_read && first < 0) first = cycle;
    bool active = top->busy || top->d_fold < nfolds;
    quiet = active ? 0 : quiet + 1;
    if (quiet > drain) break;
    if (cycle > (int64_t{1} << 40)) die(path, "the run does not end");
  }
  uint64_t mismatches = 0;
  for (uint64_t e = 0; e < out.size(); e++)
    if (out[e] != cs.expect[e]) {
      if (mismatches < 5)
        std::fprintf(stderr, "tb: output (%llu, %llu) = %lld, expected %lld\n",
                     (unsigned long long)(e / cs.N), (unsigned long long)(e % cs.N),
                     (long long)out[e], (long long)cs.expect[e]);
      mismatches++;
    }
  const int64_t cycles = (first < 0 || last < 0) ? 0 : last - first + 1;
  std::printf("cycles %lld\n", (long long)cycles);
  std::printf("macs %llu\n", (unsigned long long)macs);
  std::printf("sram_ifmap_reads %llu\n", (unsigned long long)if_reads);
  std::printf("sram_filter_reads %llu\n", (unsigned long long)fl_reads);
  std::printf("sram_ofmap_writes %llu\n", (unsigned long long)of_writes);
  std::printf("sram_psum_reads %llu\n", (unsigned long long)ps_reads);
  std::printf("gather_stalls %llu\n", (unsigned long long)stalls);
  std::printf("folds %llu\n", (unsigned long long)top->d_fold);
  if (unit_no != units.size()) gather_mismatches++;
  std::printf("mismatches %llu\n", (unsigned long long)mismatches);
  std::printf("gather_units %zu\n", unit_no);
  std::printf("gather_match %d\n", gather_mismatches == 0 ? 1 : 0);
  std::printf("outputs_match %d\n", mismatches == 0 ? 1 : 0);
  top->final();
  return 0;
}

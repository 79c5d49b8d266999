// Verilator testbench of cdg_gate alone: random blocks (1 to 64 elements) of random int16
// saliencies with random thresholds, fed back to back; every gate is checked against
// 1[Σ (s − Δ) > 0] computed here. Prints `blocks N` and `mismatches N`; exit 1 on a mismatch.
// Usage: tb_gate [SEED] [BLOCKS]
#include <verilated.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>

#include "Vcdg_gate.h"

int main(int argc, char** argv) {
  uint64_t state = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  const long blocks = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 20000;
  auto next = [&]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  auto ctx = std::make_unique<VerilatedContext>();
  auto top = std::make_unique<Vcdg_gate>(ctx.get());
  auto edge = [&]() {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
  };
  top->rst = 1;
  top->in_v = 0;
  edge();
  top->rst = 0;
  std::deque<int> expected;
  long done = 0, mismatches = 0, fed = 0;
  int left = 0;
  int64_t sum = 0;
  int16_t delta = 0;
  while (done < blocks) {
    if (top->gate_v) {
      if (expected.empty() || int(top->gate) != expected.front()) mismatches++;
      if (!expected.empty()) expected.pop_front();
      done++;
    }
    if (fed < blocks) {
      if (left == 0) {
        left = 1 + int(next() % 64);
        sum = 0;
        // Thresholds near the saliencies' range so both gate values occur.
        delta = int16_t(int(next() % 8192) - 4096);
      }
      int16_t s = int16_t(int(next() % 65536) - 32768) / int16_t(1 + next() % 8);
      sum += int64_t(s) - int64_t(delta);
      left--;
      top->in_v = 1;
      top->in_last = left == 0;
      top->in_s = uint16_t(s);
      top->in_delta = uint16_t(delta);
      if (left == 0) {
        expected.push_back(sum > 0 ? 1 : 0);
        fed++;
      }
    } else {
      top->in_v = 0;
    }
    edge();
  }
  std::printf("blocks %ld\nmismatches %ld\n", done, mismatches);
  top->final();
  return mismatches == 0 ? 0 : 1;
}

// sana_gemma_bench: the Gemma-2 text encoder (SANA's gemma-2-2b-it) with the real layer shapes
// and random, seeded weights built in memory, encoding the pipeline's two prompt lengths:
// 300 tokens (a negative prompt: max_sequence_length, no instruction) and 493 tokens (a
// positive prompt behind the complex human instruction: 195 + 300 - 2). Prints a markdown
// table against the machine's sgemm rate measured in the same run.
//   sana_gemma_bench [--reps N] [--vocab V] [--tokens T1,T2,...] [--layers L]
// Only the embedding rows a prompt uses matter to the encoder's work, so the random table
// has --vocab rows (default 16384) instead of 256000 to save 2.2 GB of RAM.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "random_weights.h"
#include "real_models.h"
#include "sana/error.h"
#include "sana/gemma2.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

#ifdef SANA_HAVE_CBLAS
#include <cblas.h>
#endif

using namespace sana;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// GFLOP/s of the engine's sgemm on an (m x k) x (n x k)^T product, best of `reps`.
double sgemm_rate(int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k)), c(static_cast<size_t>(m * n));
  bench::fill_random(a.data(), m * k, 1, 1.0f);
  bench::fill_random(b.data(), n * k, 2, 1.0f / 48.0f);
  const auto once = [&] {
    sgemm(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  };
  once();  // warm caches and OpenBLAS buffers
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    once();
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(m * n * k) / best / 1e9;
}

// <bos> and `tokens - 1` ordinary ids, no padding: Gemma2Model's work does not depend on the
// mask, and transformers computes every position as well.
struct Prompt {
  int64_t tokens;
  std::vector<int32_t> ids, mask;
};

Prompt make_prompt(int64_t tokens, int64_t vocab) {
  const size_t n = static_cast<size_t>(tokens);
  Prompt p{tokens, std::vector<int32_t>(n), std::vector<int32_t>(n, 1)};
  for (int64_t t = 0; t < tokens; ++t)
    p.ids[static_cast<size_t>(t)] = t == 0 ? 2 : static_cast<int32_t>((t * 7919) % (vocab - 3) + 3);
  return p;
}

std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  int reps = 2;
  int64_t vocab = 16384, layers = 26;
  std::vector<int64_t> lengths{300, 493};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--reps") reps = std::stoi(value);
    else if (flag == "--vocab") vocab = std::stoll(value);
    else if (flag == "--layers") layers = std::stoll(value);
    else if (flag == "--tokens") lengths = parse_list(value);
    else fail("unknown flag " + flag + " (flags: --reps --vocab --tokens --layers)");
  }
  check(vocab > 3 && layers > 0 && reps > 0 && !lengths.empty(), "--vocab > 3, --layers > 0, --reps > 0 expected");

  const Gemma2Config config = bench::gemma2_2b(vocab, layers);
  std::fprintf(stderr, "building Gemma-2-2B (%lld layers, vocab %lld) with random weights...\n",
               static_cast<long long>(layers), static_cast<long long>(vocab));
  const auto t_build = Clock::now();
  const Gemma2TextEncoder encoder = Gemma2TextEncoder::build(config, bench::gemma_random_weights(42));
  const double build_s = seconds_since(t_build);

  std::vector<Prompt> prompts;
  for (int64_t n : lengths) {
    check(n > 0, "--tokens: lengths must be positive");
    prompts.push_back(make_prompt(n, vocab));
  }

  // Warm-up: one pass per length (the workspace grows to the longest), then one more so the
  // arena merges its blocks; from then on a pass must not allocate.
  std::fprintf(stderr, "warm-up passes...\n");
  for (int round = 0; round < 2; ++round)
    for (const Prompt& p : prompts) encoder.encode(p.ids.data(), p.mask.data(), 1, p.tokens);
  const size_t allocations = encoder.workspace_allocations();

  // The machine may be shared: interleave the encodes with the sgemm probes, keep the best.
  std::fprintf(stderr, "timing (%d rounds)...\n", reps);
  std::vector<double> best(prompts.size(), 1e30);
  double rate_ref = 0, rate_shape = 0;
  const int64_t I = config.intermediate_size, D = config.hidden_size;
  double checksum = 0;
  for (int r = 0; r < reps; ++r) {
    rate_ref = std::max(rate_ref, sgemm_rate(1024, 4608, 1152, 3));
    rate_shape = std::max(rate_shape, sgemm_rate(lengths.front(), 2 * I, D, 2));
    for (size_t i = 0; i < prompts.size(); ++i) {
      const Prompt& p = prompts[i];
      const auto t0 = Clock::now();
      const Tensor out = encoder.encode(p.ids.data(), p.mask.data(), 1, p.tokens);
      best[i] = std::min(best[i], seconds_since(t0));
      if (r == 0)
        for (int64_t j = 0; j < out.numel(); ++j) checksum += out.data()[j];
    }
  }
  const bool steady = encoder.workspace_allocations() == allocations;
  const double ref = std::max(rate_ref, rate_shape);

  std::printf("### sana_gemma_bench: Gemma-2-2B text encoder, %lld layers, float32, batch 1\n\n",
              static_cast<long long>(layers));
  std::string gemm_engine(sgemm_engine());
#ifdef SANA_HAVE_CBLAS
  gemm_engine += std::string(" (OpenBLAS core ") + openblas_get_corename() + ")";
#endif
  std::printf("CPU: %s, %zu threads; GEMM: %s. Random weights; embedding table %lld rows (256000 in the real model; "
              "only the rows a prompt uses are read)\n\n",
              cpu_model().c_str(), ThreadPool::global().size(), gemm_engine.c_str(), static_cast<long long>(vocab));
  std::printf("| measurement | value |\n|---|---|\n");
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Prompt& p = prompts[i];
    const bench::EncodeFlops f = bench::encode_flops(config, 1, p.tokens);
    std::printf("| **encode, %lld tokens** | **%.3f s** (%.0f GFLOP: GEMM %.0f + attention %.1f; %.1f GFLOP/s, %.0f%% "
                "of the sgemm rate) |\n",
                static_cast<long long>(p.tokens), best[i], f.total() / 1e9,
                f.gemm / 1e9, f.attention / 1e9, f.total() / best[i] / 1e9, 100.0 * f.total() / best[i] / 1e9 / ref);
  }
  std::printf("| sgemm 1024x1152x4608 (engine) | %.1f GFLOP/s |\n", rate_ref);
  std::printf("| sgemm %lldx%lldx%lld, the gate/up projection's shape (engine) | %.1f GFLOP/s |\n",
              static_cast<long long>(lengths.front()), static_cast<long long>(D), static_cast<long long>(2 * I),
              rate_shape);
  std::printf("| weights held (float32, layers + norms) | %.0f MiB |\n", encoder.weight_bytes() / 1048576.0);
  std::printf("| encode workspace | %.1f MiB, %s |\n", encoder.workspace_bytes() / 1048576.0,
              steady ? "no allocation after warm-up" : "GREW after warm-up");
  std::printf("| peak RSS | %.0f MiB |\n", peak_rss_mib());
  std::printf("| random-weight build | %.1f s |\n", build_s);
  std::printf("\noutput checksum %.6e\n", checksum);
  return steady ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sana_gemma_bench: %s\n", e.what());
  return 2;
}

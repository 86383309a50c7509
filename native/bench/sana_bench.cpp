// sana_bench: one SanaTransformer2DModel forward with the real SANA-0.6B shapes (random,
// seeded weights built in memory) at 512x512 with CFG (latent 2 x 32 x 16 x 16, 300 text
// tokens), against the machine's measured SGEMM rate. Prints a markdown table.
//   sana_bench [--reps N] [--height PX] [--width PX] [--batch B]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "flops.h"
#include "random_weights.h"
#include "sana/dit.h"
#include "sana/error.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

#ifdef SANA_HAVE_CBLAS
#include <cblas.h>
#endif

using namespace sana;
using Clock = std::chrono::steady_clock;

namespace {

template <typename Fn>
double best_seconds(int reps, Fn&& fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

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
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

// The reference: a 1024 x 1152 x 4608 product shaped like the model's Linear layers
// (activations x weight^T), in three flavours.
class GemmProbe {
 public:
  GemmProbe() : a_(m_ * k_), b_(n_ * k_), c_(m_ * n_) {
    bench::fill_random(a_.data(), m_ * k_, 1, 1.0f);
    bench::fill_random(b_.data(), n_ * k_, 2, 1.0f);
  }
  // GFLOP/s of the engine's sgemm (OpenBLAS blocks on our pool, or the portable kernel).
  double engine(int reps) {
    return rate(reps, [&] {
      sgemm(Trans::No, Trans::Yes, m_, n_, k_, 1.0f, a_.data(), k_, b_.data(), k_, 0.0f, c_.data(), n_);
    });
  }
  double portable(int reps) {
    return rate(reps, [&] {
      sgemm_portable(Trans::No, Trans::Yes, m_, n_, k_, 1.0f, a_.data(), k_, b_.data(), k_, 0.0f, c_.data(), n_);
    });
  }
  // OpenBLAS with its own threads, as any program calling cblas_sgemm would get it (0 without BLAS).
  double blas_threaded(int reps) {
#ifdef SANA_HAVE_CBLAS
    openblas_set_num_threads(static_cast<int>(ThreadPool::global().size()));
    const double r = rate(reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m_, n_, k_, 1.0f, a_.data(), k_, b_.data(), k_, 0.0f,
                  c_.data(), n_);
    });
    openblas_set_num_threads(1);  // the engine's setting: our pool splits the GEMMs
    // OpenBLAS workers spin for a while after a call; let them park before timing anything else.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return r;
#else
    (void)reps;
    return 0.0;
#endif
  }

 private:
  template <typename Fn>
  double rate(int reps, Fn&& fn) {
    fn();  // warm caches and OpenBLAS buffers
    return 2.0 * static_cast<double>(m_ * n_ * k_) / best_seconds(reps, fn) / 1e9;
  }
  const int64_t m_ = 1024, k_ = 1152, n_ = 4608;
  std::vector<float> a_, b_, c_;
};

}  // namespace

int main(int argc, char** argv) try {
  int reps = 3;
  int64_t height = 512, width = 512, batch = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t value = std::stoll(argv[i + 1]);
    if (flag == "--reps") reps = static_cast<int>(value);
    else if (flag == "--height") height = value;
    else if (flag == "--width") width = value;
    else if (flag == "--batch") batch = value;
    else fail("unknown flag " + flag + " (flags: --reps --height --width --batch)");
  }
  check(height % 32 == 0 && width % 32 == 0, "height and width must be multiples of 32");

  const DitConfig config = DitConfig::sana_600m_512px();
  const int64_t h = height / 32, w = width / 32, tokens = 300;
  std::fprintf(stderr, "building SANA-0.6B with random weights...\n");
  const auto t_build = Clock::now();
  SanaTransformer model = SanaTransformer::build(config, bench::random_weights(42));
  const double build_s = std::chrono::duration<double>(Clock::now() - t_build).count();

  std::vector<float> latents(batch * config.in_channels * h * w), caption(batch * tokens * config.caption_channels);
  bench::fill_random(latents.data(), static_cast<int64_t>(latents.size()), 7, 1.0f);
  bench::fill_random(caption.data(), static_cast<int64_t>(caption.size()), 8, 1.0f);
  std::vector<float> mask(batch * tokens, 0.0f);  // prompts of different lengths, right padded
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < tokens; ++t) mask[b * tokens + t] = t < 40 + 60 * b ? 1.0f : 0.0f;
  std::vector<float> timestep(batch, 999.0f);
  DitStepInput in;
  in.latents = latents.data();
  in.batch = batch;
  in.height = h;
  in.width = w;
  in.timestep = timestep.data();
  std::vector<float> out(batch * config.out_channels * h * w);

  // Two warm-up passes: the first sizes the workspace block by block, the next reset merges
  // the blocks into one; from then on a pass at this shape must not allocate.
  std::fprintf(stderr, "warm-up passes...\n");
  DitTextContext text;
  for (int i = 0; i < 2; ++i) {
    text = model.encode_text(caption.data(), batch, tokens, mask.data());
    model.forward(text, in, out.data());
  }
  const size_t allocations_after_warmup = model.workspace_allocations();

  // This machine may be shared: interleave the model timings with the SGEMM probe so both
  // see the same conditions, and keep the best of each.
  std::fprintf(stderr, "timing (%d rounds)...\n", reps);
  GemmProbe probe;
  double t_full = 1e30, t_text = 1e30, t_step = 1e30, rate_engine = 0, rate_blas = 0;
  for (int r = 0; r < reps; ++r) {
    rate_engine = std::max(rate_engine, probe.engine(3));
    rate_blas = std::max(rate_blas, probe.blas_threaded(3));
    t_full = std::min(t_full, best_seconds(1, [&] {
      DitTextContext fresh = model.encode_text(caption.data(), batch, tokens, mask.data());
      model.forward(fresh, in, out.data());
    }));
    t_text = std::min(t_text, best_seconds(1, [&] { text = model.encode_text(caption.data(), batch, tokens, mask.data()); }));
    t_step = std::min(t_step, best_seconds(1, [&] { model.forward(text, in, out.data()); }));
  }
  const double rate_portable = probe.portable(3);
  const bool steady = model.workspace_allocations() == allocations_after_warmup;
  double checksum = 0;
  for (float v : out) checksum += v;

  const double ref_rate = std::max(rate_engine, rate_blas);
  const bench::DitFlops ff = bench::forward_flops(config, batch, h, w, tokens);
  const bench::DitFlops tf = bench::text_flops(config, batch, tokens);
  const double full_flops = ff.total() + tf.total();

  std::printf("### sana_bench: SANA-0.6B transformer, %lldx%lld, batch %lld (CFG), %lld text tokens, float32\n\n",
              static_cast<long long>(height), static_cast<long long>(width), static_cast<long long>(batch),
              static_cast<long long>(tokens));
  std::string gemm_engine(sgemm_engine());
#ifdef SANA_HAVE_CBLAS
  gemm_engine += std::string(" (OpenBLAS core ") + openblas_get_corename() + ")";
#endif
  std::printf("CPU: %s, %zu threads; GEMM: %s\n\n", cpu_model().c_str(), ThreadPool::global().size(),
              gemm_engine.c_str());
  std::printf("| measurement | value |\n|---|---|\n");
  std::printf("| full forward (caption projection + K/V + blocks, as diffusers) | %.3f s |\n", t_full);
  std::printf("| FLOPs counted (GEMM %.1f + attention %.1f + dwconv %.2f) | %.1f GFLOP |\n",
              (ff.gemm + tf.gemm) / 1e9, (ff.attention + tf.attention) / 1e9, (ff.conv + tf.conv) / 1e9,
              full_flops / 1e9);
  std::printf("| achieved | %.1f GFLOP/s |\n", full_flops / t_full / 1e9);
  std::printf("| sgemm 1024x1152x4608, engine (%s on the engine's pool) | %.1f GFLOP/s |\n",
              std::string(sgemm_engine()).c_str(), rate_engine);
#ifdef SANA_HAVE_CBLAS
  std::printf("| sgemm 1024x1152x4608, OpenBLAS with its own threads | %.1f GFLOP/s |\n", rate_blas);
#endif
  std::printf("| sgemm 1024x1152x4608, portable kernel | %.1f GFLOP/s |\n", rate_portable);
  std::printf("| **full forward: fraction of the sgemm rate** (best sgemm above) | **%.0f%%** |\n",
              100.0 * full_flops / t_full / 1e9 / ref_rate);
  std::printf("| denoising step, text K/V precomputed (forward only) | %.3f s (%.1f GFLOP, %.1f GFLOP/s, %.0f%%) |\n",
              t_step, ff.total() / 1e9, ff.total() / t_step / 1e9, 100.0 * ff.total() / t_step / 1e9 / ref_rate);
  std::printf("| denoising step, text K/V recomputed (encode_text + forward) | %.3f s |\n", t_full);
  std::printf("| encode_text alone (caption projection + 28 layers' K/V) | %.3f s |\n", t_text);
  std::printf("| weights (float32) / text context | %.0f MiB / %.1f MiB |\n", model.weight_bytes() / 1048576.0,
              text.bytes() / 1048576.0);
  std::printf("| forward workspace | %.1f MiB, %s |\n", model.workspace_bytes() / 1048576.0,
              steady ? "no allocation after the first pass" : "GREW after the first pass");
  std::printf("| peak RSS | %.0f MiB |\n", peak_rss_mib());
  std::printf("| random-weight build | %.1f s |\n", build_s);
  std::printf("\noutput checksum %.6e\n", checksum);
  return steady ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sana_bench: %s\n", e.what());
  return 2;
}

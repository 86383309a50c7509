// sana_image_bench: one whole text-to-image generation with the real SANA shapes (random,
// seeded weights built in memory) on a backend: Gemma-2-2B encodes the prompt and the
// empty negative (300 tokens each), the transformer runs N steps with classifier-free
// guidance (batch 2 per step), and DC-AE decodes the image (tiled at 4K). Prints a markdown
// table: time per phase, achieved TFLOP/s, peak device memory (CUDA).
//   sana_image_bench [--backend cuda] [--cases 0.6b@1024,1.6b@4096] [--steps 20] [--reps 2]
//                    [--gemma-layers 26]
// The sampler update (an Euler step of the CFG-combined velocity) runs on the host: it is a
// few vector operations per step, and the engine's samplers are benchmarked elsewhere.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "flops.h"
#include "random_weights.h"
#include "real_models.h"
#include "sana/dc_ae.h"
#include "sana/dit.h"
#include "sana/error.h"
#include "sana/gemma2.h"

#ifdef SANA_HAVE_CUDA
#include <cuda_runtime.h>
#endif

using namespace sana;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kTokens = 300;
constexpr float kGuidance = 4.5f;

struct Options {
  std::string backend = "cuda";
  std::vector<std::string> cases{"0.6b@1024", "1.6b@4096"};
  int steps = 20;
  int reps = 2;
  int64_t gemma_layers = 26;
};

struct Case {
  std::string name;
  DitConfig config;
  int64_t pixels = 1024;
};

struct Timing {
  double text = 1e30, denoise = 1e30, decode = 1e30, total = 1e30;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Device memory in use now (CUDA: the whole device's, as cudaMemGetInfo reports; 0 on CPU).
size_t device_used_bytes() {
#ifdef SANA_HAVE_CUDA
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) return total_bytes - free_bytes;
  cudaGetLastError();
#endif
  return 0;
}

Case parse_case(const std::string& spec) {
  const size_t at = spec.find('@');
  check(at != std::string::npos, "case \"" + spec + "\" must be MODEL@PIXELS, e.g. 0.6b@1024");
  Case c;
  c.name = spec;
  const std::string model = spec.substr(0, at);
  c.pixels = std::stoll(spec.substr(at + 1));
  check(c.pixels > 0 && c.pixels % 32 == 0, "case \"" + spec + "\": the size must be a positive multiple of 32");
  if (model == "0.6b") c.config = DitConfig::sana_600m_512px();
  else if (model == "1.6b") c.config = bench::sana_1600m_4k();
  else fail("case \"" + spec + "\": the model must be 0.6b or 1.6b");
  c.config.sample_size = c.pixels / 32;
  return c;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    check(i + 1 < argc, "flag " + flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--backend") o.backend = value;
    else if (flag == "--steps") o.steps = std::stoi(value);
    else if (flag == "--reps") o.reps = std::stoi(value);
    else if (flag == "--gemma-layers") o.gemma_layers = std::stoll(value);
    else if (flag == "--cases") {
      o.cases.clear();
      std::stringstream in(value);
      for (std::string c; std::getline(in, c, ',');) o.cases.push_back(c);
    } else fail("unknown flag " + flag + " (flags: --backend --cases --steps --reps --gemma-layers)");
  }
  check(o.steps > 0 && o.reps > 0 && o.gemma_layers > 0, "--steps, --reps and --gemma-layers must be positive");
  return o;
}

// The prompt (80 real tokens) and the empty negative (1), right padded to 300 like the pipeline.
void prompt_batch(std::vector<int32_t>& ids, std::vector<int32_t>& mask) {
  ids.assign(2 * kTokens, 0);
  mask.assign(2 * kTokens, 0);
  for (int64_t t = 0; t < kTokens; ++t) {
    ids[t] = static_cast<int32_t>(2 + (t * 7919) % 16000);
    mask[t] = t < 80 ? 1 : 0;
    ids[kTokens + t] = 2;
    mask[kTokens + t] = t < 1 ? 1 : 0;
  }
}

class Generation {
 public:
  Generation(const Case& c, const Gemma2TextEncoder& gemma, const std::string& backend, int steps)
      : case_(c), gemma_(gemma), steps_(steps),
        dit_(SanaTransformer::build(c.config, bench::random_weights(42), backend)),
        vae_(DcAutoencoder::build(DcAeConfig::sana_f32c32(), bench::random_vae_weights(),
                                  DcAeLoadOptions{backend, false, true})) {
    prompt_batch(ids_, mask_);
    for (size_t i = 0; i < mask_.size(); ++i) dit_mask_.push_back(static_cast<float>(mask_[i]));
  }

  Timing run() {
    Timing t;
    const auto t0 = Clock::now();
    const Tensor caption = gemma_.encode(ids_.data(), mask_.data(), 2, kTokens);
    const DitTextContext text = dit_.encode_text(caption.data(), 2, kTokens, dit_mask_.data());
    t.text = seconds_since(t0);
    const auto t1 = Clock::now();
    const std::vector<float> latent = denoise(text);
    t.denoise = seconds_since(t1);
    const auto t2 = Clock::now();
    DcAeDecodeOptions decode;
    decode.scaled = true;
    decode.tiling = case_.pixels > 2048 ? DcAeDecodeOptions::Tiling::On : DcAeDecodeOptions::Tiling::Auto;
    const int64_t side = case_.pixels / 32;
    const Tensor image = vae_.decode_image(latent.data(), 1, side, side, decode);
    t.decode = seconds_since(t2);
    t.total = seconds_since(t0);
    checksum_ = 0;
    for (int64_t i = 0; i < image.numel(); i += 4099) checksum_ += image.data()[i];
    return t;
  }

  double checksum() const { return checksum_; }

 private:
  // Euler steps of the flow velocity from sigma 1 to 0, the batch being (cond, uncond).
  std::vector<float> denoise(const DitTextContext& text) {
    const int64_t side = case_.pixels / 32, per = case_.config.in_channels * side * side;
    std::vector<float> x(static_cast<size_t>(per)), pair(static_cast<size_t>(2 * per)), v(static_cast<size_t>(2 * per));
    bench::fill_random(x.data(), per, 7, 1.0f);
    std::vector<float> timestep(2);
    DitStepInput in;
    in.latents = pair.data();
    in.batch = 2;
    in.height = side;
    in.width = side;
    in.timestep = timestep.data();
    for (int s = 0; s < steps_; ++s) {
      const float sigma = 1.0f - static_cast<float>(s) / static_cast<float>(steps_);
      const float next = 1.0f - static_cast<float>(s + 1) / static_cast<float>(steps_);
      std::copy(x.begin(), x.end(), pair.begin());
      std::copy(x.begin(), x.end(), pair.begin() + per);
      timestep[0] = timestep[1] = sigma * 1000.0f;
      dit_.forward(text, in, v.data());
      for (int64_t i = 0; i < per; ++i) {
        const float guided = v[per + i] + kGuidance * (v[i] - v[per + i]);
        x[i] += (next - sigma) * guided;
      }
    }
    return x;
  }

  const Case& case_;
  const Gemma2TextEncoder& gemma_;
  int steps_;
  SanaTransformer dit_;
  DcAutoencoder vae_;
  std::vector<int32_t> ids_, mask_;
  std::vector<float> dit_mask_;
  double checksum_ = 0;
};

void report(const Case& c, const Options& o, const Timing& t, const Gemma2Config& g, double peak_gib,
            double weights_gib, double checksum) {
  const int64_t side = c.pixels / 32;
  const bench::DitFlops step = bench::forward_flops(c.config, 2, side, side, kTokens);
  const bench::DitFlops text = bench::text_flops(c.config, 2, kTokens);
  const double dit_flops = step.total() * o.steps + text.total();
  const double gemma_flops = bench::encode_flops(g, 2, kTokens).total();
  std::printf("| %s | %lld steps, CFG | %.3f | %.3f | %.3f | **%.3f** | %.1f | %.1f | %.2f | %.2f | %.4g |\n",
              c.name.c_str(), static_cast<long long>(o.steps), t.text, t.denoise, t.decode, t.total,
              (step.total() * o.steps) / t.denoise / 1e12, (dit_flops + gemma_flops) / (t.text + t.denoise) / 1e12,
              weights_gib, peak_gib, checksum);
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse_options(argc, argv);
  const Gemma2Config g = bench::gemma2_2b(16384, o.gemma_layers);
  std::fprintf(stderr, "building Gemma-2-2B (%lld layers) on %s...\n", static_cast<long long>(o.gemma_layers),
               o.backend.c_str());
  const size_t base = device_used_bytes();
  const Gemma2TextEncoder gemma = Gemma2TextEncoder::build(g, bench::gemma_random_weights(42), o.backend);
  std::printf("### sana_image_bench: backend %s, random weights, times in seconds (best of %d after a warm-up)\n\n",
              o.backend.c_str(), o.reps);
  std::printf("| case | sampling | text (Gemma + caption K/V) | denoise | decode | total | DiT TFLOP/s | "
              "Gemma+DiT TFLOP/s | weights GiB (Gemma, DiT, DC-AE) | peak device GiB | checksum |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& spec : o.cases) {
    const Case c = parse_case(spec);
    std::fprintf(stderr, "%s: building the transformer and the decoder...\n", spec.c_str());
    Generation gen(c, gemma, o.backend, o.steps);
    const double weights_gib = static_cast<double>(device_used_bytes() - std::min(base, device_used_bytes())) / (1 << 30);
    std::fprintf(stderr, "%s: warm-up generation...\n", spec.c_str());
    gen.run();
    size_t peak = device_used_bytes();
    Timing best;
    for (int r = 0; r < o.reps; ++r) {
      const Timing t = gen.run();
      peak = std::max(peak, device_used_bytes());
      best.text = std::min(best.text, t.text);
      best.denoise = std::min(best.denoise, t.denoise);
      best.decode = std::min(best.decode, t.decode);
      best.total = std::min(best.total, t.total);
    }
    report(c, o, best, g, static_cast<double>(peak) / (1 << 30), weights_gib, gen.checksum());
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sana_image_bench: %s\n", e.what());
  return 1;
}

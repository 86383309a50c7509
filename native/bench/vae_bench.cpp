// sana_vae_bench: decodes with the real DC-AE (dc-ae-f32c32-sana-1.1 shapes, random seeded
// weights built in memory) and prints a markdown table: decode time and peak memory at 512²
// and 1024², the tiled decode of a large image, the latent preview's cost and fidelity, and
// the machine's SGEMM rate measured in the same run.
//
// Every measurement runs in a fresh child process (this program re-executing itself), so
// each peak-RSS figure is that measurement's own and not a leftover of a larger one.
//   sana_vae_bench [--reps N] [--sizes 512,1024] [--tiled PX] [--tiled-peak PX] [--tile LATENT_PX]
//                  [--step-ms MS]
// --tiled PX: the tiled decode that is timed (default 2048); --tiled-peak PX: a tiled
// decode whose memory is measured by decoding only its first tiles (default 4096: the head
// and one tile reach the peak, later tiles reuse the same buffers); 0 skips either.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "random_weights.h"
#include "real_models.h"
#include "sana/dc_ae.h"
#include "sana/error.h"
#include "sana/ops.h"
#include "sana/thread_pool.h"

#ifdef SANA_HAVE_CBLAS
#include <cblas.h>
#endif

using namespace sana;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Peak resident set (VmHWM) in MiB, and a reset of it (Linux clear_refs 5), so a child can
// report the peak of its measurement apart from the peak of building the weights.
double peak_rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::vector<float> random_latent(int64_t channels, int64_t side, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(channels * side * side));
  bench::fill_random(v.data(), static_cast<int64_t>(v.size()), seed, 1.0f);
  return v;
}

// The engine's SGEMM rate (GFLOP/s) on m x n x k, A times B^T, best of `reps`.
double sgemm_rate(int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k)), c(static_cast<size_t>(m * n));
  bench::fill_random(a.data(), m * k, 1, 1.0f);
  bench::fill_random(b.data(), n * k, 2, 1.0f);
  const auto run = [&] { sgemm(Trans::No, Trans::Yes, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n); };
  run();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    run();
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / best / 1e9;
}

// Multiply-adds x 2 of the decoder at a latent grid: every conv and Linear (the attention
// summaries and elementwise work are under 1 % and left out).
double decode_gflop(const DcAeConfig& c, int64_t side) {
  double flops = 0;
  const size_t n = c.decoder.size();
  const auto conv = [&](double pixels, int64_t cin, int64_t cout, int64_t k) {
    flops += 2.0 * pixels * static_cast<double>(cin * cout * k * k);
  };
  conv(static_cast<double>(side * side), c.latent_channels, c.decoder.back().channels, 3);
  for (size_t i = n; i-- > 0;) {
    const DcAeStage& s = c.decoder[i];
    const double px = std::pow(static_cast<double>(side << (n - 1 - i)), 2.0);
    if (i + 1 < n) conv(px, c.decoder[i + 1].channels, s.channels, 3);
    for (int64_t l = 0; l < s.layers; ++l) {
      if (s.block_type == "ResBlock") {
        conv(px, s.channels, s.channels, 3);
        conv(px, s.channels, s.channels, 3);
      } else {
        const int64_t ch = s.channels, parts = 1 + static_cast<int64_t>(s.multiscales.size());
        conv(px, ch, 3 * ch, 1);                                   // q|k|v
        for (int64_t kk : s.multiscales) {
          flops += 2.0 * px * static_cast<double>(3 * ch * kk * kk);  // depthwise
          flops += 2.0 * px * static_cast<double>(3 * ch * 32);       // grouped 1x1, 32 channels a group
        }
        conv(px, parts * ch, ch, 1);      // to_out
        conv(px, ch, 8 * ch, 1);          // conv_inverted
        flops += 2.0 * px * 9.0 * 8.0 * static_cast<double>(ch);  // depthwise 3x3
        conv(px, 4 * ch, ch, 1);          // conv_point
      }
    }
  }
  conv(std::pow(static_cast<double>(side << (n - 1)), 2.0), c.decoder.front().channels, c.in_channels, 3);
  return flops / 1e9;
}

// ---- child: one measurement, printed as "key=value" words on one line ----------------------

int child(const std::string& what, int64_t px, int reps, int64_t tile) {
  const auto t_build = Clock::now();
  DcAeLoadOptions load;
  load.encoder = false;
  DcAutoencoder vae = DcAutoencoder::build(DcAeConfig::sana_f32c32(), bench::random_vae_weights(), load);
  const double build_s = seconds_since(t_build);
  const DcAeConfig& c = vae.config();
  const int64_t side = px / c.spatial_compression();
  const std::vector<float> latent = random_latent(c.latent_channels, side, 7);
  // This machine may be shared: each child measures the SGEMM rate right before its decode,
  // so every decode figure comes with the rate the machine gave at that time.
  const double gemm_rate = sgemm_rate(1024, 128, 9 * 128, 5);
  const double base_rss = rss_mib();
  const bool reset = reset_peak_rss();
  std::ostringstream out;
  out << "build_s=" << build_s << " weights_mib=" << vae.weight_bytes() / 1048576.0 << " base_rss_mib=" << base_rss
      << " hwm_reset=" << (reset ? 1 : 0) << " sgemm_gflops=" << gemm_rate;

  if (what == "decode" || what == "tiled" || what == "tiled-peak") {
    DcAeDecodeOptions o;
    o.tiling = what == "decode" ? DcAeDecodeOptions::Tiling::Off : DcAeDecodeOptions::Tiling::On;
    o.tiles.tile_latent = tile;
    if (what == "tiled-peak") {
      // Memory only: the head and the first tile, the point where every buffer of the
      // decode exists; the remaining tiles would reuse them.
      o.progress = [](int64_t done, int64_t) { return done < 1; };
    }
    double best = 1e30;
    double checksum = 0;
    int64_t tiles_done = 0, tiles_total = 0;
    const int runs = what == "decode" ? reps : 1;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = Clock::now();
      const DcAeDecodeOptions::Progress inner = o.progress;
      DcAeDecodeOptions run = o;
      run.progress = [&](int64_t done, int64_t total) {
        tiles_done = done;
        tiles_total = total;
        return inner ? inner(done, total) : true;
      };
      const Tensor image = vae.decode_image(latent.data(), 1, side, side, run);
      best = std::min(best, seconds_since(t0));
      checksum = 0;
      for (int64_t i = 0; i < image.numel(); i += 997) checksum += image.data()[i];
    }
    out << " seconds=" << best << " peak_rss_mib=" << peak_rss_mib()
        << " workspace_mib=" << vae.workspace_bytes() / 1048576.0 << " tiles_done=" << tiles_done
        << " tiles_total=" << tiles_total << " checksum=" << checksum;
  } else if (what == "preview") {
    const auto t_fit = Clock::now();
    const DcAePreviewStats st = vae.preview_stats();
    const double fit_s = seconds_since(t_fit);
    double best = 1e30;
    for (int r = 0; r < 20; ++r) {
      const auto t0 = Clock::now();
      const Tensor p = vae.preview(latent.data(), 1, side, side, true);
      best = std::min(best, seconds_since(t0));
    }
    out << " fit_s=" << fit_s << " preview_ms=" << best * 1e3 << " fit_psnr=" << st.fit_psnr
        << " fit_flat_psnr=" << st.fit_flat_psnr << " test_psnr=" << st.test_psnr
        << " test_flat_psnr=" << st.test_flat_psnr;
  } else {
    fail("sana_vae_bench: unknown child measurement " + what);
  }
  std::printf("RESULT %s\n", out.str().c_str());
  return 0;
}

// ---- parent: spawns the children, prints the table -----------------------------------------

using Fields = std::map<std::string, double>;

Fields run_child(const std::string& what, int64_t px, int reps, int64_t tile) {
  const std::string cmd = "/proc/" + std::to_string(getpid()) + "/exe --child " + what + " " + std::to_string(px) +
                          " " + std::to_string(reps) + " " + std::to_string(tile);
  std::fprintf(stderr, "measuring %s at %lld px...\n", what.c_str(), static_cast<long long>(px));
  FILE* pipe = popen(cmd.c_str(), "r");
  check(pipe != nullptr, "sana_vae_bench: cannot start " + cmd);
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) text += buf;
  const int status = pclose(pipe);
  check(status == 0, "sana_vae_bench: `" + cmd + "` failed (status " + std::to_string(status) + ")");
  const size_t at = text.rfind("RESULT ");
  check(at != std::string::npos, "sana_vae_bench: no RESULT line from `" + cmd + "`");
  std::istringstream words(text.substr(at + 7));
  Fields f;
  std::string word;
  while (words >> word) {
    const size_t eq = word.find('=');
    if (eq != std::string::npos) f[word.substr(0, eq)] = std::stod(word.substr(eq + 1));
  }
  return f;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) v.push_back(std::stoll(item));
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc >= 6 && std::string(argv[1]) == "--child")
    return child(argv[2], std::stoll(argv[3]), std::stoi(argv[4]), std::stoll(argv[5]));

  int reps = 2;
  int64_t tiled = 2048, tiled_peak = 4096, tile = 32;
  double step_ms = 0;
  std::vector<int64_t> sizes = {512, 1024};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--reps") reps = std::stoi(value);
    else if (flag == "--sizes") sizes = parse_list(value);
    else if (flag == "--tiled") tiled = std::stoll(value);
    else if (flag == "--tiled-peak") tiled_peak = std::stoll(value);
    else if (flag == "--tile") tile = std::stoll(value);
    else if (flag == "--step-ms") step_ms = std::stod(value);
    else fail("unknown flag " + flag + " (flags: --reps --sizes --tiled --tiled-peak --tile --step-ms)");
  }
  for (int64_t s : sizes) check(s > 0 && s % 32 == 0, "sizes must be positive multiples of 32");

  const DcAeConfig config = DcAeConfig::sana_f32c32();
  std::fprintf(stderr, "sgemm probe...\n");
  const double rate_conv = sgemm_rate(1024, 128, 9 * 128, 5);
  const double rate_linear = sgemm_rate(1024, 4608, 1152, 3);

  struct Row {
    int64_t px;
    Fields f;
  };
  std::vector<Row> decodes;
  for (int64_t s : sizes) decodes.push_back({s, run_child("decode", s, reps, tile)});
  Fields tiled_f, peak_f;
  if (tiled > 0) tiled_f = run_child("tiled", tiled, 1, tile);
  if (tiled_peak > 0) peak_f = run_child("tiled-peak", tiled_peak, 1, tile);
  const Fields preview = run_child("preview", 1024, 1, tile);

  std::printf("### sana_vae_bench: DC-AE decoder (dc-ae-f32c32-sana-1.1 shapes, random weights), float32\n\n");
  std::string gemm_engine(sgemm_engine());
#ifdef SANA_HAVE_CBLAS
  gemm_engine += std::string(" (OpenBLAS core ") + openblas_get_corename() + ")";
#endif
  std::printf("CPU: %s, %zu threads; GEMM: %s\n\n", cpu_model().c_str(), ThreadPool::global().size(),
              gemm_engine.c_str());
  std::printf("| measurement | value |\n|---|---|\n");
  std::printf("| sgemm 1024x128x1152 (an im2col 3x3 conv band at 128 channels), at the start | %.1f GFLOP/s |\n",
              rate_conv);
  std::printf("| sgemm 1024x4608x1152 (a transformer Linear), at the start | %.1f GFLOP/s |\n", rate_linear);
  for (const Row& r : decodes) {
    const double gflop = decode_gflop(config, r.px / 32);
    const double s = r.f.at("seconds");
    std::printf("| %lld² decode, whole (best of %d) | **%.2f s** (%.0f GFLOP as direct convs: %.0f GFLOP/s, %.2fx the "
                "sgemm rate of %.0f GFLOP/s measured just before in the same process) |\n",
                static_cast<long long>(r.px), reps, s, gflop, gflop / s, gflop / s / r.f.at("sgemm_gflops"),
                r.f.at("sgemm_gflops"));
    std::printf("| %lld² decode, peak RSS (weights %.0f MiB + workspace %.0f MiB + image) | %.0f MiB |\n",
                static_cast<long long>(r.px), r.f.at("weights_mib"), r.f.at("workspace_mib"), r.f.at("peak_rss_mib"));
  }
  if (!tiled_f.empty()) {
    const double gflop = decode_gflop(config, tiled / 32);
    std::printf("| %lld² decode, tiled (tiles of %lld latent px, %g tiles) | **%.1f s** (%.1f GFLOP/s on the "
                "untiled FLOP count; sgemm %.0f GFLOP/s), peak RSS %.0f MiB |\n",
                static_cast<long long>(tiled), static_cast<long long>(tile), tiled_f.at("tiles_total"),
                tiled_f.at("seconds"), gflop / tiled_f.at("seconds"), tiled_f.at("sgemm_gflops"),
                tiled_f.at("peak_rss_mib"));
  }
  if (!peak_f.empty()) {
    std::printf("| %lld² decode, tiled: peak RSS (head + %g of %g tiles decoded; later tiles reuse the buffers) | "
                "**%.0f MiB** (workspace %.0f MiB), head + first tile %.1f s |\n",
                static_cast<long long>(tiled_peak), peak_f.at("tiles_done"), peak_f.at("tiles_total"),
                peak_f.at("peak_rss_mib"), peak_f.at("workspace_mib"), peak_f.at("seconds"));
  }
  std::printf("| preview of a 32x32 latent (1024² image) | %.4f ms (fit once: %.2f s) |\n", preview.at("preview_ms"),
              preview.at("fit_s"));
  if (step_ms > 0)
    std::printf("| preview / one denoising step (a step of %.0f ms, given with --step-ms) | %.1e |\n", step_ms,
                preview.at("preview_ms") / step_ms);
  std::printf("| preview PSNR vs the 32x block means of the decode | held-out %.2f dB (flat colour %.2f dB); fit "
              "set %.2f dB (flat %.2f dB) |\n",
              preview.at("test_psnr"), preview.at("test_flat_psnr"), preview.at("fit_psnr"),
              preview.at("fit_flat_psnr"));
  std::printf("| random-weight build (decoder) | %.1f s |\n", decodes.empty() ? 0.0 : decodes[0].f.at("build_s"));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sana_vae_bench: %s\n", e.what());
  return 2;
}

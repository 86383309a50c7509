// Times DcAutoencoder decodes of a random latent, whole and tiled, and reports how far the
// tiled image is from the whole one.
//   dc_ae_bench <vae or pipeline folder> [image size, default 1024] [repeats, default 3] [tile latent, default 16]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "sana/dc_ae.h"
#include "sana/ops.h"

using namespace sana;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dc_ae_bench <vae folder> [image size] [repeats] [tile latent]\n");
    return 2;
  }
  const int64_t size = argc > 2 ? std::atoll(argv[2]) : 1024;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  const int64_t tile = argc > 4 ? std::atoll(argv[4]) : 16;
  DcAeLoadOptions load;
  load.encoder = false;
  auto start = std::chrono::steady_clock::now();
  DcAutoencoder vae = DcAutoencoder::load(argv[1], load);
  std::printf("load: %.3f s, %.1f MiB of weights\n", seconds_since(start), vae.weight_bytes() / 1048576.0);

  const int64_t f = vae.config().spatial_compression(), side = size / f, c = vae.config().latent_channels;
  std::vector<float> latent(static_cast<size_t>(c * side * side));
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  for (float& v : latent) v = normal(rng);
  std::printf("latent 1x%lldx%lldx%lld -> image %lldx%lld; untiled workspace %.1f MiB\n", static_cast<long long>(c),
              static_cast<long long>(side), static_cast<long long>(side), static_cast<long long>(size),
              static_cast<long long>(size), vae.decode_workspace_bytes(1, side, side) / 1048576.0);

  DcAeDecodeOptions whole;
  whole.tiling = DcAeDecodeOptions::Tiling::Off;
  Tensor reference;
  for (int r = 0; r < repeats; ++r) {
    start = std::chrono::steady_clock::now();
    reference = vae.decode_image(latent.data(), 1, side, side, whole);
    std::printf("decode (whole): %.3f s, workspace %.1f MiB\n", seconds_since(start),
                vae.workspace_bytes() / 1048576.0);
  }
  DcAeDecodeOptions tiled;
  tiled.tiling = DcAeDecodeOptions::Tiling::On;
  tiled.tiles.tile_latent = tile;
  start = std::chrono::steady_clock::now();
  const Tensor image = vae.decode_image(latent.data(), 1, side, side, tiled);
  std::printf("decode (tiles of %lld latent px): %.3f s, rel_l2 vs whole %.3e\n", static_cast<long long>(tile),
              seconds_since(start), rel_l2(image.data(), reference.data(), static_cast<size_t>(image.numel())));
  start = std::chrono::steady_clock::now();
  const DcAePreviewStats ps = vae.preview_stats();
  std::printf("preview fit: %.3f s; PSNR vs the 32x block-averaged decode: fit set %.2f dB (flat colour %.2f), "
              "held-out %.2f dB (flat colour %.2f)\n",
              seconds_since(start), ps.fit_psnr, ps.fit_flat_psnr, ps.test_psnr, ps.test_flat_psnr);
  start = std::chrono::steady_clock::now();
  const Tensor preview = vae.preview(latent.data(), 1, side, side);
  std::printf("preview of the %lldx%lld latent: %.3f ms\n", static_cast<long long>(side),
              static_cast<long long>(side), seconds_since(start) * 1e3);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "dc_ae_bench: %s\n", e.what());
  return 2;
}

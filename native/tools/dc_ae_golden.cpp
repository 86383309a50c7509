// Runs every vae case of the golden manifest through DcAutoencoder and prints the relative
// L2 error of each output (intermediates included) against diffusers. Exit status 1 when
// any output misses its manifest tolerance.
//   dc_ae_golden [golden dir, default test/fixtures/golden] [backend, default cpu]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "sana/dc_ae.h"
#include "sana/error.h"
#include "sana/model_folder.h"
#include "sana/ops.h"
#include "sana/safetensors.h"
#include "golden_args.h"

namespace fs = std::filesystem;
using namespace sana;

int main(int argc, char** argv) try {
  const golden::Args args = golden::parse_args(argc, argv);
  const fs::path golden = args.dir;
  const Json manifest = read_json_file(golden / "cases" / "manifest.json");
  std::map<std::string, DcAutoencoder> models;
  bool ok = true;
  int cases = 0;
  for (const Json& cs : manifest.at("cases")) {
    if (cs.at("component") != "vae") continue;
    ++cases;
    const std::string name = cs.at("name");
    const std::string model_name = cs.at("model");
    auto it = models.find(model_name);
    if (it == models.end()) {
      const fs::path dir = golden / manifest.at("models").at(model_name).at("path").get<std::string>();
      it = models.emplace(model_name, DcAutoencoder::load(dir, DcAeLoadOptions{args.backend})).first;
    }
    DcAutoencoder& vae = it->second;
    const auto file = SafetensorsFile::open(golden / cs.at("file").get<std::string>());
    const auto get = [&](const std::string& tensor) {
      const TensorView* v = file->find(tensor);
      check(v != nullptr, name + ": no tensor " + tensor);
      return Tensor::from_view(*v);
    };

    DcAeCaptures captures;
    const auto start = std::chrono::steady_clock::now();
    if (cs.at("inputs").contains("latent")) {
      const Tensor latent = get("latent");
      captures.tensors.emplace_back(
          "image", vae.decode(latent.data(), latent.dim(0), latent.dim(2), latent.dim(3), false, &captures));
    } else {
      const Tensor image = get("image");
      captures.tensors.emplace_back(
          "latent", vae.encode(image.data(), image.dim(0), image.dim(2), image.dim(3), false, &captures));
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    for (const auto& [out_name, spec] : cs.at("outputs").items()) {
      const double tol = sana::golden::tolerance(cs.at("tolerance").at(out_name).get<double>(), args.backend);
      const Tensor* got = captures.find(out_name);
      const Tensor ref = get(out_name);
      const bool same_shape = got && got->shape() == ref.shape();
      const double err = same_shape ? rel_l2(got->data(), ref.data(), static_cast<size_t>(ref.numel())) : 1.0;
      const bool pass = same_shape && err <= tol;
      ok = ok && pass;
      std::printf("%-22s %-26s rel_l2 %.3e  tol %.0e  %s\n", name.c_str(), out_name.c_str(), err, tol,
                  pass ? "ok" : (got ? (same_shape ? "FAIL" : "SHAPE") : "MISSING"));
    }
    std::printf("%-22s %.1f ms\n", name.c_str(), ms);
  }
  check(cases > 0, "no vae cases in the manifest");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "dc_ae_golden: %s\n", e.what());
  return 2;
}

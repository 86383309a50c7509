// Runs every transformer case of the golden manifest through SanaTransformer and prints the
// relative L2 error of each output against diffusers. Exit status 1 when any output misses
// its manifest tolerance.
//   sana_dit_golden [golden dir, default test/fixtures/golden] [backend, default cpu]
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "sana/dit.h"
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
  bool ok = true;
  int cases = 0;
  for (const Json& cs : manifest.at("cases")) {
    if (cs.at("component") != "transformer") continue;
    ++cases;
    const std::string name = cs.at("name");
    const fs::path model_dir = golden / manifest.at("models").at(cs.at("model").get<std::string>()).at("path").get<std::string>();
    SanaTransformer model = SanaTransformer::load(model_dir, args.backend);
    const auto file = SafetensorsFile::open(golden / cs.at("file").get<std::string>());
    const auto get = [&](const std::string& tensor) {
      const TensorView* v = file->find(tensor);
      check(v != nullptr, name + ": no tensor " + tensor);
      return Tensor::from_view(*v);
    };
    const Tensor hidden = get("hidden_states"), caption = get("encoder_hidden_states");
    const Tensor mask = get("encoder_attention_mask"), timestep = get("timestep");
    Tensor guidance;
    if (file->find("guidance")) guidance = get("guidance");

    DitCaptures captures;
    const DitTextContext text =
        model.encode_text(caption.data(), caption.dim(0), caption.dim(1), mask.data(), &captures);
    DitStepInput in;
    in.latents = hidden.data();
    in.batch = hidden.dim(0);
    in.height = hidden.dim(2);
    in.width = hidden.dim(3);
    in.timestep = timestep.data();
    in.guidance = guidance.empty() ? nullptr : guidance.data();
    captures.tensors.emplace_back("sample", model.forward(text, in, &captures));

    for (const auto& [out_name, spec] : cs.at("outputs").items()) {
      const double tol = sana::golden::tolerance(cs.at("tolerance").at(out_name).get<double>(), args.backend);
      const Tensor* got = captures.find(out_name);
      const Tensor ref = get(out_name);
      double err = 1.0;
      if (got && got->shape() == ref.shape()) err = rel_l2(got->data(), ref.data(), static_cast<size_t>(ref.numel()));
      const bool pass = got && got->shape() == ref.shape() && err <= tol;
      ok = ok && pass;
      std::printf("%-34s %-24s rel_l2 %.3e  tol %.0e  %s\n", name.c_str(), out_name.c_str(), err, tol,
                  pass ? "ok" : (got ? "FAIL" : "MISSING"));
    }
  }
  check(cases > 0, "no transformer cases in the manifest");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "sana_dit_golden: %s\n", e.what());
  return 2;
}

// A component's weights: one safetensors file, or shards tied together by an index JSON
// ({"weight_map": {tensor: shard file}}) the way Hugging Face saves large checkpoints.
#include <algorithm>
#include <set>

#include "sana/error.h"
#include "sana/model_folder.h"
#include "sana/safetensors.h"

namespace sana {

namespace fs = std::filesystem;

namespace {

// Names diffusers and transformers write; other *.safetensors files are accepted only when
// they are the folder's single candidate (variants like *.fp16.safetensors stay unambiguous).
constexpr const char* kSingleNames[] = {"diffusion_pytorch_model.safetensors", "model.safetensors"};
constexpr const char* kIndexNames[] = {"diffusion_pytorch_model.safetensors.index.json",
                                       "model.safetensors.index.json"};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Picks the file that defines the checkpoint in `dir`: the standard single file, else the
// standard index, else the one index or the one safetensors file present.
fs::path find_weights(const fs::path& dir) {
  for (const char* name : kSingleNames)
    if (fs::is_regular_file(dir / name)) return dir / name;
  for (const char* name : kIndexNames)
    if (fs::is_regular_file(dir / name)) return dir / name;
  std::vector<fs::path> indexes;
  std::vector<fs::path> singles;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (ends_with(name, ".safetensors.index.json")) indexes.push_back(entry.path());
    if (ends_with(name, ".safetensors")) singles.push_back(entry.path());
  }
  if (indexes.size() == 1) return indexes.front();
  if (indexes.empty() && singles.size() == 1) return singles.front();
  if (indexes.empty() && singles.empty())
    fail("no safetensors weights in " + dir.string() +
         " (expected diffusion_pytorch_model.safetensors, model.safetensors or a *.safetensors.index.json)");
  fail("cannot tell which weights to load in " + dir.string() + ": " + std::to_string(indexes.size()) +
       " index files and " + std::to_string(singles.size()) + " safetensors files, none with a standard name");
}

}  // namespace

Checkpoint Checkpoint::open_file(const fs::path& file) {
  if (ends_with(file.filename().string(), ".index.json")) {
    Checkpoint checkpoint;
    checkpoint.origin_ = file;
    const Json index = read_json_file(file);
    const std::string where = file.string();
    check(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
          where + ": a safetensors index needs a \"weight_map\" object");

    // Group tensors by shard so each shard is mapped once, however many tensors it holds.
    std::map<std::string, std::vector<std::string>> by_shard;
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
      check(shard.is_string(), where + ": weight_map entry for \"" + tensor + "\" must be a file name");
      const std::string shard_name = shard.get<std::string>();
      // Shards are siblings of the index; refuse paths that would read elsewhere.
      check(!shard_name.empty() && fs::path(shard_name).filename() == shard_name && shard_name != "." &&
                shard_name != "..",
            where + ": weight_map entry for \"" + tensor + "\" names \"" + shard_name + "\", not a file name");
      by_shard[shard_name].push_back(tensor);
    }
    check(!by_shard.empty(), where + ": weight_map is empty");

    const fs::path dir = file.parent_path();
    for (const auto& [shard_name, tensors] : by_shard) {
      const fs::path shard_path = dir / shard_name;
      if (!fs::exists(shard_path))
        fail(where + " lists shard \"" + shard_name + "\" (for " + std::to_string(tensors.size()) +
             " tensors, e.g. \"" + tensors.front() + "\"), but " + shard_path.string() + " is missing");
      auto shard = SafetensorsFile::open(shard_path);
      const std::set<std::string> listed(tensors.begin(), tensors.end());
      for (const std::string& tensor : tensors) {
        const TensorView* view = shard->find(tensor);
        if (view == nullptr)
          fail(where + " maps tensor \"" + tensor + "\" to shard \"" + shard_name + "\", but " +
               shard_path.string() + " has no such tensor");
        checkpoint.index_[tensor] = view;
      }
      for (const auto& [tensor, _] : shard->tensors())
        if (!listed.contains(tensor))
          fail(shard_path.string() + " holds tensor \"" + tensor + "\", which " + where +
               " does not map to this shard");
      checkpoint.files_.push_back(std::move(shard));
    }
    return checkpoint;
  }

  Checkpoint checkpoint;
  checkpoint.origin_ = file;
  auto single = SafetensorsFile::open(file);
  for (const auto& [name, view] : single->tensors()) checkpoint.index_[name] = &view;
  checkpoint.files_.push_back(std::move(single));
  return checkpoint;
}

Checkpoint Checkpoint::open_dir(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("weights folder " + dir.string() + " is missing");
  Checkpoint checkpoint = open_file(find_weights(dir));
  checkpoint.origin_ = dir;
  return checkpoint;
}

std::vector<fs::path> Checkpoint::files() const {
  std::vector<fs::path> out;
  for (const auto& file : files_) out.push_back(file->path());
  return out;
}

size_t Checkpoint::total_bytes() const {
  size_t total = 0;
  for (const auto& [_, view] : index_) total += view->nbytes;
  return total;
}

bool Checkpoint::contains(const std::string& name) const { return index_.contains(name); }

const TensorView& Checkpoint::view(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail(origin_.string() + ": no tensor \"" + name + "\" in the checkpoint");
  return *it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, _] : index_) out.push_back(name);
  return out;
}

Tensor Checkpoint::load_f32(const std::string& name, const Shape& expected) const {
  const TensorView& v = view(name);
  check(v.shape == expected, origin_.string() + ": tensor \"" + name + "\" has shape " + shape_str(v.shape) +
                                 ", expected " + shape_str(expected));
  return Tensor::from_view(v);
}

Tensor Checkpoint::load_f32(const std::string& name) const { return Tensor::from_view(view(name)); }

}  // namespace sana

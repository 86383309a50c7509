#pragma once
// Memory-mapped safetensors files and checkpoints (one file, or shards listed by a
// `*.safetensors.index.json` as real Hugging Face checkpoints ship them).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sana/tensor.h"

namespace sana {

class MappedFile;  // RAII mmap, defined in src/io/mapped_file.h

class SafetensorsFile {
 public:
  // Validates the whole header: length prefix, JSON, dtypes, shapes against byte ranges,
  // ranges inside the file and not overlapping. Errors name the file.
  static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(const std::string& name) const;

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

 private:
  // Only open() can make one (it needs make_shared, hence a public constructor with a private key).
  struct Key {
    explicit Key() = default;
  };

 public:
  explicit SafetensorsFile(Key);

 private:
  std::filesystem::path path_;
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of one model component, wherever they live.
class Checkpoint {
 public:
  // `dir` holds either exactly one `*.safetensors` or a `*.safetensors.index.json`.
  static Checkpoint open_dir(const std::filesystem::path& dir);
  static Checkpoint open_file(const std::filesystem::path& file);

  // The file or folder the checkpoint was opened from; error messages name it.
  const std::filesystem::path& origin() const { return origin_; }
  // Every safetensors file backing the checkpoint (one, or each shard once).
  std::vector<std::filesystem::path> files() const;
  size_t total_bytes() const;

  bool contains(const std::string& name) const;
  const TensorView& view(const std::string& name) const;  // throws naming the tensor and folder
  std::vector<std::string> names() const;
  size_t size() const { return index_.size(); }

  // The tensor widened to float32; throws if its shape is not `expected`.
  Tensor load_f32(const std::string& name, const Shape& expected) const;
  Tensor load_f32(const std::string& name) const;

 private:
  std::filesystem::path origin_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace sana

#pragma once
// A read-only memory map of a whole file. Weights stay on disk until touched, and several
// readers of one checkpoint share the page cache instead of each holding a copy.
#include <cstddef>
#include <filesystem>
#include <span>

namespace sana {

class MappedFile {
 public:
  // Throws sana::Error naming the file when it is missing, unreadable or cannot be mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sana

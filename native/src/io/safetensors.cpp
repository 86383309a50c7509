// safetensors: 8-byte little-endian header length, a JSON header, then the raw data area.
// Every field of the header is checked before any tensor is handed out, so a corrupt or
// truncated file fails here with its name instead of producing garbage weights later.
#include "sana/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <string_view>

#include "io/mapped_file.h"
#include "sana/error.h"

namespace sana {

namespace {

using Json = nlohmann::json;

// The reference implementation refuses headers above 100 MB; a real header is a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

uint64_t read_le64(const std::byte* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint64_t>(p[i]);
  return value;
}

struct ByteRange {
  uint64_t begin;
  uint64_t end;
  const std::string* name;
};

class HeaderParser {
 public:
  HeaderParser(const std::filesystem::path& path, size_t data_size) : where_(path.string()), data_size_(data_size) {}

  TensorView entry(const std::string& name, const Json& value, const std::byte* data) {
    const std::string tensor = where_ + ": tensor \"" + name + "\"";
    check(value.is_object(), tensor + ": header entry must be a JSON object");
    for (const auto& [field, _] : value.items())
      check(field == "dtype" || field == "shape" || field == "data_offsets",
            tensor + ": unexpected header field \"" + field + "\"");
    check(value.contains("dtype") && value["dtype"].is_string(), tensor + ": \"dtype\" must be a string");
    check(value.contains("shape") && value["shape"].is_array(), tensor + ": \"shape\" must be an array");
    check(value.contains("data_offsets") && value["data_offsets"].is_array() && value["data_offsets"].size() == 2,
          tensor + ": \"data_offsets\" must be an array [begin, end]");

    TensorView view;
    try {
      view.dtype = parse_dtype(value["dtype"].get<std::string>());
    } catch (const Error& e) {
      fail(tensor + ": " + e.what());
    }

    // Bound the element count as we go so a hostile shape cannot overflow the byte count.
    const uint64_t limit = std::numeric_limits<uint64_t>::max() / 16;
    uint64_t count = 1;
    for (const Json& dim : value["shape"]) {
      check(dim.is_number_unsigned(), tensor + ": shape " + value["shape"].dump() +
                                          " must hold non-negative integers");
      const uint64_t d = dim.get<uint64_t>();
      check(d == 0 || count <= limit / d, tensor + ": shape " + value["shape"].dump() + " is too large");
      count *= d;
      view.shape.push_back(static_cast<int64_t>(d));
    }

    const Json& offsets = value["data_offsets"];
    check(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
          tensor + ": data_offsets " + offsets.dump() + " must be non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    const std::string range = "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    check(begin <= end, tensor + ": " + range + " end before they begin");
    check(end <= data_size_, tensor + ": " + range + " run past the end of the data area (" +
                                 std::to_string(data_size_) + " bytes): the file is truncated or the offsets are wrong");
    const uint64_t expected = count * dtype_size(view.dtype);
    check(end - begin == expected, tensor + ": " + range + " hold " + std::to_string(end - begin) +
                                       " bytes, but shape " + shape_str(view.shape) + " of " +
                                       std::string(dtype_name(view.dtype)) + " needs " +
                                       std::to_string(expected));
    view.data = data + begin;
    view.nbytes = static_cast<size_t>(expected);
    ranges_.push_back({begin, end, &name});
    return view;
  }

  // The data area must be covered exactly: an overlap means two tensors alias each other,
  // and a gap or a tail means bytes no header entry accounts for (a sign of a bad writer).
  void check_layout() {
    std::sort(ranges_.begin(), ranges_.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
    uint64_t covered = 0;
    const std::string* previous = nullptr;
    for (const ByteRange& r : ranges_) {
      if (r.begin == r.end) continue;
      if (r.begin < covered)
        fail(where_ + ": tensor \"" + *r.name + "\" overlaps tensor \"" + *previous + "\" (bytes " +
             std::to_string(r.begin) + ".." + std::to_string(covered) + " of the data area)");
      if (r.begin > covered)
        fail(where_ + ": bytes " + std::to_string(covered) + ".." + std::to_string(r.begin) +
             " of the data area belong to no tensor (before \"" + *r.name + "\")");
      covered = r.end;
      previous = r.name;
    }
    if (covered != data_size_)
      fail(where_ + ": the data area has " + std::to_string(data_size_ - covered) +
           " trailing bytes that belong to no tensor");
  }

 private:
  std::string where_;
  uint64_t data_size_;
  std::vector<ByteRange> ranges_;
};

}  // namespace

SafetensorsFile::SafetensorsFile(Key) {}
SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  auto result = std::make_shared<SafetensorsFile>(Key{});
  result->path_ = path;
  result->file_ = std::make_unique<MappedFile>(path);
  const std::string where = path.string();
  const auto bytes = result->file_->bytes();

  check(bytes.size() >= 8, where + ": truncated safetensors file: " + std::to_string(bytes.size()) +
                               " bytes, fewer than the 8-byte header length");
  const uint64_t header_len = read_le64(bytes.data());
  check(header_len <= kMaxHeaderBytes, where + ": header length " + std::to_string(header_len) +
                                           " exceeds the 100 MiB limit: not a safetensors file");
  check(header_len <= bytes.size() - 8, where + ": header length " + std::to_string(header_len) +
                                            " exceeds the file size (" + std::to_string(bytes.size()) +
                                            " bytes): the file is truncated or not safetensors");
  check(header_len >= 2, where + ": header length " + std::to_string(header_len) + " is too small for a JSON object");

  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  Json header;
  try {
    header = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(where + ": invalid JSON header: " + e.what());
  }
  check(header.is_object(), where + ": header must be a JSON object, not " + std::string(header.type_name()));

  const std::byte* data = bytes.data() + 8 + header_len;
  HeaderParser parser(path, bytes.size() - 8 - header_len);
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      check(value.is_object(), where + ": __metadata__ must be an object of strings");
      for (const auto& [key, entry] : value.items()) {
        check(entry.is_string(), where + ": __metadata__ entry \"" + key + "\" must be a string");
        result->metadata_[key] = entry.get<std::string>();
      }
      continue;
    }
    // Keys are unique here (the JSON object keeps one value per key); the map key outlives the
    // parser, which keeps a pointer to it for its layout messages.
    auto it = result->tensors_.emplace(name, TensorView{}).first;
    it->second = parser.entry(it->first, value, data);
  }
  parser.check_layout();
  return result;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace sana

// JSON files of a model folder. diffusers and transformers write them with Python's json
// module, which emits bare NaN / Infinity / -Infinity (every DPM-Solver scheduler config has
// "lambda_min_clipped": -Infinity). nlohmann rejects those, so they are swapped for marked
// strings before parsing and turned back into doubles after: callers see real numbers.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "sana/error.h"
#include "sana/model_folder.h"

namespace sana {

namespace {

// A NUL byte cannot occur in a JSON string unescaped, and no config writes an escaped one,
// so a string that starts with it is one of ours.
constexpr std::string_view kMark = "\\u0000sana:";

struct Literal {
  std::string_view text;
  double value;
};

const Literal kLiterals[] = {
    {"-Infinity", -std::numeric_limits<double>::infinity()},
    {"Infinity", std::numeric_limits<double>::infinity()},
    {"NaN", std::numeric_limits<double>::quiet_NaN()},
};

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string mark_python_literals(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[i + 1];
        i += 2;
        continue;
      }
      in_string = c != '"';
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      ++i;
      continue;
    }
    bool replaced = false;
    const bool word_start = i == 0 || !is_word_char(text[i - 1]);
    for (const Literal& literal : kLiterals) {
      const size_t end = i + literal.text.size();
      if (word_start && text.substr(i, literal.text.size()) == literal.text &&
          (end == text.size() || !is_word_char(text[end]))) {
        out += '"';
        out += kMark;
        out += literal.text;
        out += '"';
        i = end;
        replaced = true;
        break;
      }
    }
    if (!replaced) {
      out += c;
      ++i;
    }
  }
  return out;
}

void restore_python_literals(Json& value) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    constexpr std::string_view prefix("\0sana:", 6);
    if (s.size() > prefix.size() && std::string_view(s).substr(0, prefix.size()) == prefix) {
      const std::string_view name = std::string_view(s).substr(prefix.size());
      for (const Literal& literal : kLiterals)
        if (literal.text == name) value = literal.value;
    }
    return;
  }
  if (value.is_array() || value.is_object())
    for (Json& item : value) restore_python_literals(item);
}

}  // namespace

Json parse_json(std::string_view text, const std::string& origin) {
  Json value;
  try {
    value = Json::parse(mark_python_literals(text));
  } catch (const Json::parse_error& e) {
    // The byte offset refers to the marked text; the line/column in e.what() are close enough
    // to find the spot, and no marking happens before the first literal.
    fail("invalid JSON in " + origin + ": " + e.what());
  }
  restore_python_literals(value);
  return value;
}

Json read_json_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path.string() + " is missing");
  if (!std::filesystem::is_regular_file(path, ec)) fail(path.string() + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_json(text.str(), path.string());
}

}  // namespace sana

#pragma once
// Every failure inside the engine is a sana::Error with a message a user can act on
// (which file, which tensor, what was expected). The N-API layer turns it into a JS Error.
#include <stdexcept>
#include <string>

namespace sana {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

inline void check(bool ok, const std::string& message) {
  if (!ok) fail(message);
}

}  // namespace sana

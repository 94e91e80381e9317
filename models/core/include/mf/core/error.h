// Errors that carry a code the UI/CLI can act on and a message a person can act on.
// Thread-safe (value types only). No LibTorch, no Qt.
#pragma once

#include <stdexcept>
#include <string>

namespace mf {

enum class ErrorCode {
  BadInput,      // the user's input (file, mask, size, frame count) is wrong: fix the input
  BadFile,       // a file is corrupt, truncated or lies about its contents
  MissingModel,  // a model folder or file is missing: point Manyfold at the right folder
  Unsupported,   // valid but not supported by this build/config
  OutOfMemory,   // the job does not fit the memory budget
  Cancelled,     // the user cancelled
  Io,            // the operating system refused a read/write
  Internal,      // a bug in Manyfold
};

const char* to_string(ErrorCode code);

// Exit codes of the command-line tool, one per ErrorCode (0 = success, 1 = check failed, 2 = usage).
int exit_code_for(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Throws mf::Error(code, message) when cond is false.
inline void check(bool cond, ErrorCode code, const std::string& message) {
  if (!cond) throw Error(code, message);
}

}  // namespace mf

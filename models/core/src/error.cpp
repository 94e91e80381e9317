#include "mf/core/error.h"

namespace mf {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadInput: return "BadInput";
    case ErrorCode::BadFile: return "BadFile";
    case ErrorCode::MissingModel: return "MissingModel";
    case ErrorCode::Unsupported: return "Unsupported";
    case ErrorCode::OutOfMemory: return "OutOfMemory";
    case ErrorCode::Cancelled: return "Cancelled";
    case ErrorCode::Io: return "Io";
    case ErrorCode::Internal: return "Internal";
  }
  return "Internal";
}

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadInput: return 3;
    case ErrorCode::BadFile: return 4;
    case ErrorCode::MissingModel: return 5;
    case ErrorCode::Unsupported: return 6;
    case ErrorCode::OutOfMemory: return 7;
    case ErrorCode::Cancelled: return 8;
    case ErrorCode::Io: return 9;
    case ErrorCode::Internal: return 10;
  }
  return 10;
}

}  // namespace mf

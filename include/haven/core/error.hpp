#pragma once
// An error that says where it came from, so the proxy can map every failure to one response.
#include <string>

namespace haven::core {

enum class ErrorSource { Client, Server, Internal, Config };

struct Error {
  ErrorSource source = ErrorSource::Internal;
  int uv_code = 0;  // libuv error code, 0 when the error is not from libuv
  std::string message;
};

}  // namespace haven::core

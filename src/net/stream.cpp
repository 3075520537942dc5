#include "haven/net/stream.hpp"

#include <uv.h>

namespace haven::net {

const int Stream::kEof = UV_EOF;
const int Stream::kCanceled = UV_ECANCELED;
const int Stream::kTimedOut = UV_ETIMEDOUT;
const int Stream::kRefused = UV_ECONNREFUSED;
const int Stream::kTlsFailed = -40001;  // outside libuv's range (negated errno values)
const int Stream::kTlsTruncated = -40002;
const int Stream::kNoBuffers = UV_ENOBUFS;

const char* Stream::error_name(int status) {
  if (status == 0) return "ok";
  if (status == kTlsFailed) return "TLS failure";
  if (status == kTlsTruncated) return "connection closed without TLS close_notify";
  return uv_strerror(status);
}

bool Stream::is_local_resource_error(int status) {
  // Out of descriptors, memory or local ports (EADDRNOTAVAIL: every ephemeral port in use, e.g. in
  // TIME_WAIT after clients reset many exchanges): haven's shortage, never the server's fault.
  return status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOBUFS || status == UV_ENOMEM ||
         status == UV_EADDRNOTAVAIL || status == UV_EADDRINUSE;
}

}  // namespace haven::net

#include "openssl_error.hpp"

#include <openssl/err.h>

namespace haven::tls {

std::string openssl_error(const char* when_empty) {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return when_empty;
  char text[256];
  ERR_error_string_n(last, text, sizeof text);
  // "error:0A000086:SSL routines::certificate verify failed": the reason is the readable part.
  const std::string full(text);
  const auto colon = full.rfind(':');
  return colon == std::string::npos ? full : full.substr(colon + 1);
}

}  // namespace haven::tls

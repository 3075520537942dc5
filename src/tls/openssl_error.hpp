#pragma once
// OpenSSL's error queue in words, for messages.
#include <string>

namespace haven::tls {

// The reason of the most recent error on this thread's queue ("no certificate" when it is
// empty), and the queue emptied: one failure never shows up in the next one's message.
std::string openssl_error(const char* when_empty = "no detail from OpenSSL");

}  // namespace haven::tls

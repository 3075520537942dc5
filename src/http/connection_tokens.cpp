#include "haven/http/connection_tokens.hpp"

#include "haven/http/field_chars.hpp"
#include "haven/http/message_head.hpp"

namespace haven::http {

namespace {
// Duplicates included: bounds the work of the distinct-name check below.
constexpr std::size_t kMaxTokensListed = 4 * ConnectionTokens::kMax;
}  // namespace

bool ConnectionTokens::names_field(std::string_view name, const char* base) const {
  for (std::size_t i = 0; i < count; ++i) {
    if (iequals(std::string_view(base + names[i].offset, names[i].length), name)) return true;
  }
  return false;
}

const char* gather_connection_tokens(MessageHead& head, const char* base) {
  ConnectionTokens& tokens = head.connection;
  tokens.clear();
  std::size_t listed = 0;
  for (const auto& header : head.headers) {
    if (header.kind != HeaderKind::Connection) continue;
    const char* const value_start = base + header.value.offset;
    std::string_view list = header.value.view(base);
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto token = trim_whitespace(list.substr(0, comma));
      if (!token.empty()) {
        if (++listed > kMaxTokensListed) return "too many tokens in the Connection header";
        if (!is_token(token)) return "invalid token in the Connection header";
        if (iequals(token, "close")) {
          tokens.close = true;
        } else if (iequals(token, "keep-alive")) {
          tokens.keep_alive = true;
        } else if (iequals(token, "upgrade")) {
          tokens.upgrade = true;
        } else {
          switch (classify_header(token)) {
            case HeaderKind::Host:
            case HeaderKind::ContentLength:
            case HeaderKind::TransferEncoding:
            case HeaderKind::XForwardedFor:
            case HeaderKind::XForwardedProto:
            case HeaderKind::Connection:
              return "the Connection header names a field the proxy relies on";
            default:
              break;
          }
          if (!tokens.names_field(token, base)) {
            if (tokens.count == ConnectionTokens::kMax) return "too many tokens in the Connection header";
            tokens.names[tokens.count++] = {static_cast<std::uint32_t>(header.value.offset + (token.data() - value_start)),
                                            static_cast<std::uint32_t>(token.size())};
          }
        }
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return nullptr;
}

}  // namespace haven::http

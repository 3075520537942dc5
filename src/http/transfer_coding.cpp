#include "haven/http/transfer_coding.hpp"

#include "haven/http/field_chars.hpp"

namespace haven::http {

CodingList classify_transfer_codings(const MessageHead& head, const char* base) {
  bool any = false;
  bool chunked_seen = false;
  bool last_is_chunked = false;
  bool others = false;
  for (const auto& header : head.headers) {
    if (header.kind != HeaderKind::TransferEncoding) continue;
    std::string_view list = header.value.view(base);
    // A field with no coding at all: some peers ignore it, others let it override the rest.
    if (trim_whitespace(list).find_first_not_of(", \t") == std::string_view::npos) return CodingList::Invalid;
    for (;;) {
      const auto comma = list.find(',');
      const auto item = trim_whitespace(list.substr(0, comma));
      // A coding may carry parameters ("gzip;q=1" is not one, but "foo;x=y" is); only the name counts.
      const auto name = trim_whitespace(item.substr(0, item.find(';')));
      if (!item.empty()) {
        if (!is_token(name)) return CodingList::Invalid;
        any = true;
        if (iequals(name, "chunked")) {
          // Chunked twice, or with parameters, has no single meaning (RFC 9112 6.1).
          if (chunked_seen || name.size() != item.size()) return CodingList::Invalid;
          chunked_seen = true;
          last_is_chunked = true;
        } else {
          others = true;
          last_is_chunked = false;
        }
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (!any) return CodingList::None;
  if (!last_is_chunked) return CodingList::OtherLast;
  return others ? CodingList::ChunkedAfterOthers : CodingList::Chunked;
}

}  // namespace haven::http

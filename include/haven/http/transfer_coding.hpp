#pragma once
// What a message's Transfer-Encoding list says about its body (RFC 9112 6.1). haven decodes only
// chunked; any other coding is refused in requests and relayed untouched in responses.
#include "haven/http/message_head.hpp"

namespace haven::http {

enum class CodingList : unsigned char {
  None,                // no Transfer-Encoding
  Chunked,             // exactly "chunked"
  ChunkedAfterOthers,  // "gzip, chunked": framed by the final chunked; gzip stays the server's
  OtherLast,           // "gzip" or "chunked, gzip": no framing, the body ends at close
  Invalid,             // empty, not a token list, or chunked applied twice
};

CodingList classify_transfer_codings(const MessageHead& head, const char* base);

}  // namespace haven::http

#include "haven/http/method.hpp"

#include <llhttp.h>

namespace haven::http {

static_assert(static_cast<int>(Method::Delete) == HTTP_DELETE);
static_assert(static_cast<int>(Method::Get) == HTTP_GET);
static_assert(static_cast<int>(Method::Head) == HTTP_HEAD);
static_assert(static_cast<int>(Method::Post) == HTTP_POST);
static_assert(static_cast<int>(Method::Put) == HTTP_PUT);
static_assert(static_cast<int>(Method::Connect) == HTTP_CONNECT);
static_assert(static_cast<int>(Method::Options) == HTTP_OPTIONS);
static_assert(static_cast<int>(Method::Trace) == HTTP_TRACE);
static_assert(static_cast<int>(Method::Patch) == HTTP_PATCH);

// llhttp_method_name() aborts on a number it does not know; this one cannot.
std::string_view method_name(Method method) {
#define HAVEN_METHOD_NAME(NUM, NAME, STRING) \
  case NUM:                                  \
    return #STRING;
  switch (static_cast<int>(method)) {
    HTTP_ALL_METHOD_MAP(HAVEN_METHOD_NAME)
    default:
      return "<unknown>";
  }
#undef HAVEN_METHOD_NAME
}

}  // namespace haven::http

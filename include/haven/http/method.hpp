#pragma once
// Request methods as the parser reports them (MessageHead::method). The numbers are llhttp's,
// checked at compile time in src/http/method.cpp, so nothing outside `http` needs llhttp; the
// methods nobody here compares against have no name but keep their number.
#include <cstdint>
#include <string_view>

namespace haven::http {

enum class Method : std::uint8_t {
  Delete = 0,
  Get = 1,
  Head = 2,
  Post = 3,
  Put = 4,
  Connect = 5,
  Options = 6,
  Trace = 7,
  Patch = 28,
};

// "GET", "PROPFIND", ...; "<unknown>" for a number no method has.
std::string_view method_name(Method method);

}  // namespace haven::http

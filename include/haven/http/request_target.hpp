#pragma once
// The request-target grammar of RFC 9112 section 3.2 with RFC 3986 characters only. llhttp 8.1.0
// lets through what a stricter peer reads differently (tab, form feed, raw bytes >= 0x80, '#',
// "GET *"); a target one side reads as another path is how path rules get bypassed.
#include <string_view>

namespace haven::http {

enum class TargetForm : unsigned char {
  Origin,    // "/path?query"
  Absolute,  // "http://authority/path?query"
  Asterisk,  // "*", OPTIONS only
  Invalid,
};

struct TargetCheck {
  TargetForm form = TargetForm::Invalid;
  const char* problem = "";  // why it is invalid, as a plain sentence fragment
};

// `options`: the request's method is OPTIONS (the only one that may use "*"). CONNECT's
// authority-form is refused before this is asked.
TargetCheck check_request_target(std::string_view target, bool options);

// The authority of an absolute-form target ("http://host:port/path" -> "host:port"), or empty.
std::string_view absolute_form_authority(std::string_view target);

}  // namespace haven::http

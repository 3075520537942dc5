#include "haven/admin/json_body.hpp"

namespace haven::admin {

namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool done() {
    skip_space();
    return at_ == text_.size();
  }
  bool string(std::string& out, std::string& error) {
    if (!take('"')) return fail(error, "expected a string");
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail(error, "control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (at_ >= text_.size()) break;
      const char escaped = text_[at_++];
      switch (escaped) {
        case '"':
        case '\\':
        case '/':
          out.push_back(escaped);
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        default:
          // \uXXXX is never needed by the API's names and states: refused rather than half-supported.
          return fail(error, "unsupported escape in a string");
      }
    }
    return fail(error, "unterminated string");
  }
  bool value(JsonValue& out, std::string& error) {
    skip_space();
    if (at_ >= text_.size()) return fail(error, "expected a value");
    const char c = text_[at_];
    if (c == '"') {
      out.kind = JsonValue::Kind::String;
      return string(out.text, error);
    }
    if (literal("true")) {
      out.kind = JsonValue::Kind::Boolean;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.kind = JsonValue::Kind::Boolean;
      return true;
    }
    if (literal("null")) {
      out.kind = JsonValue::Kind::Null;
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return integer(out, error);
    return fail(error, "expected a string, an integer, true, false or null (objects and arrays are not accepted)");
  }

 private:
  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }
  bool integer(JsonValue& out, std::string& error) {
    const bool negative = text_[at_] == '-';
    if (negative) ++at_;
    const std::size_t start = at_;
    std::int64_t value = 0;
    while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      if (value > 1'000'000'000) return fail(error, "number out of range");
      value = value * 10 + (text_[at_++] - '0');
    }
    if (at_ == start) return fail(error, "expected digits");
    if (text_[start] == '0' && at_ - start > 1) return fail(error, "leading zero in a number");
    if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E')) {
      return fail(error, "only whole numbers are accepted");
    }
    out.kind = JsonValue::Kind::Integer;
    out.integer = negative ? -value : value;
    return true;
  }
  static bool fail(std::string& error, std::string_view message) {
    if (error.empty()) error = message;
    return false;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

JsonObject parse_json_object(std::string_view text) {
  JsonObject result;
  constexpr std::size_t kMaxMembers = 32;
  Reader reader(text);
  if (!reader.take('{')) {
    result.error = "the body must be a JSON object";
    return result;
  }
  if (!reader.take('}')) {
    for (;;) {
      std::string key;
      JsonValue value;
      if (!reader.string(key, result.error)) break;
      if (!reader.take(':')) {
        result.error = "expected ':' after a member name";
        break;
      }
      if (!reader.value(value, result.error)) break;
      if (result.members.contains(key)) {
        result.error = "member \"" + key + "\" appears twice";
        break;
      }
      if (result.members.size() == kMaxMembers) {
        result.error = "too many members";
        break;
      }
      result.members.emplace(std::move(key), std::move(value));
      if (reader.take(',')) continue;
      if (reader.take('}')) break;
      result.error = "expected ',' or '}'";
      break;
    }
  }
  if (result.error.empty() && !reader.done()) result.error = "unexpected text after the object";
  if (!result.error.empty()) result.members.clear();
  return result;
}

}  // namespace haven::admin

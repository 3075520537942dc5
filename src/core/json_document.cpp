#include "haven/core/json_document.hpp"

#include <charconv>
#include <cstdint>

namespace haven::core {

namespace {
const JsonNode kNull{};
constexpr int kMaxDepth = 64;
}  // namespace

const JsonNode& JsonNode::operator[](std::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return value;
  }
  return kNull;
}

std::string JsonNode::text(std::string_view fallback) const {
  return kind_ == Kind::String ? string_ : std::string(fallback);
}
double JsonNode::number(double fallback) const { return kind_ == Kind::Number ? number_ : fallback; }
bool JsonNode::boolean(bool fallback) const { return kind_ == Kind::Boolean ? boolean_ : fallback; }

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  bool document(JsonNode& out, std::string& error) {
    if (!value(out, 0, error)) return false;
    space();
    if (at_ != text_.size()) return fail(error, "unexpected text after the document");
    return true;
  }

 private:
  void space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }
  bool take(char c) {
    space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool fail(std::string& error, std::string_view message) const {
    error = std::string(message) + " at byte " + std::to_string(at_);
    return false;
  }
  bool literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  bool hex4(std::uint32_t& out) {
    if (at_ + 4 > text_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[at_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
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
      const char e = text_[at_++];
      switch (e) {
        case '"': case '\\': case '/': out.push_back(e); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t code = 0;
          if (!hex4(code)) return fail(error, "bad \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            std::uint32_t low = 0;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF) return fail(error, "bad surrogate pair");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return fail(error, "lone surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default:
          return fail(error, "bad escape in a string");
      }
    }
    return fail(error, "unterminated string");
  }

  bool value(JsonNode& out, int depth, std::string& error) {
    if (depth > kMaxDepth) return fail(error, "nested too deep");
    space();
    if (at_ >= text_.size()) return fail(error, "expected a value");
    const char c = text_[at_];
    if (c == '"') {
      out.kind_ = JsonNode::Kind::String;
      return string(out.string_, error);
    }
    if (c == '{') {
      ++at_;
      out.kind_ = JsonNode::Kind::Object;
      if (take('}')) return true;
      for (;;) {
        std::string key;
        JsonNode member;
        if (!string(key, error)) return false;
        if (!take(':')) return fail(error, "expected ':'");
        if (!value(member, depth + 1, error)) return false;
        out.members_.emplace_back(std::move(key), std::move(member));
        if (take(',')) continue;
        if (take('}')) return true;
        return fail(error, "expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++at_;
      out.kind_ = JsonNode::Kind::Array;
      if (take(']')) return true;
      for (;;) {
        JsonNode item;
        if (!value(item, depth + 1, error)) return false;
        out.items_.push_back(std::move(item));
        if (take(',')) continue;
        if (take(']')) return true;
        return fail(error, "expected ',' or ']'");
      }
    }
    if (literal("true")) {
      out.kind_ = JsonNode::Kind::Boolean;
      out.boolean_ = true;
      return true;
    }
    if (literal("false")) {
      out.kind_ = JsonNode::Kind::Boolean;
      return true;
    }
    if (literal("null")) return true;
    // A number: RFC 8259's grammar, checked before from_chars (which is laxer).
    const std::size_t start = at_;
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    if (at_ >= text_.size() || text_[at_] < '0' || text_[at_] > '9') return fail(error, "expected a value");
    if (text_[at_] == '0') {
      ++at_;
    } else {
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
    }
    if (at_ < text_.size() && text_[at_] == '.') {
      ++at_;
      const std::size_t digits = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      if (at_ == digits) return fail(error, "expected digits after '.'");
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      const std::size_t digits = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      if (at_ == digits) return fail(error, "expected digits in the exponent");
    }
    out.kind_ = JsonNode::Kind::Number;
    const auto [end, problem] = std::from_chars(text_.data() + start, text_.data() + at_, out.number_);
    if (problem != std::errc()) return fail(error, "number out of range");
    return end == text_.data() + at_ || fail(error, "bad number");
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

std::optional<JsonNode> parse_json(std::string_view text, std::string& error) {
  JsonNode root;
  JsonParser parser(text);
  if (!parser.document(root, error)) return std::nullopt;
  return root;
}

}  // namespace haven::core

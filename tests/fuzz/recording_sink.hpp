#pragma once
// A MessageSink that keeps everything MessageParser reports, checks each event against the order
// and the head invariants, and answers the way Http1Connection's and Exchange's sinks answer, so a harness drives
// the parser through the same pauses as the proxy does.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "haven/http/method.hpp"

#include "arriving_input.hpp"
#include "haven/http/message_parser.hpp"
#include "head_invariants.hpp"
#include "require.hpp"

namespace haven::fuzz {

// The request a response answers: it decides how the response is read.
struct AnsweredRequest {
  bool was_head = false;
  bool was_upgrade = false;
};

struct RecordedMessage {
  AnsweredRequest request;  // responses: the request this one answers
  http::MessageHead head;
  bool head_done = false;
  bool head_accepted = false;  // the sink went on after the head (a 101 nobody asked for is refused)
  std::string body;
  std::vector<http::Span> body_pieces;  // where each on_body piece lies in the input
  bool complete = false;
};

class RecordingSink final : public http::MessageSink {
 public:
  // `input` holds the bytes the parser is given; `limits` are the parser's.
  RecordingSink(http::MessageKind kind, const ArrivingInput& input, const http::ParseLimits& limits)
      : kind_(kind), input_(input), limits_(limits) {}

  // For responses: the request of the exchange that starts now (set_skip_body follows it too).
  void answer(const AnsweredRequest& request) { request_ = request; }

  http::MessageHead& on_message_begin() override {
    require(messages_.empty() || messages_.back().complete);
    RecordedMessage& message = messages_.emplace_back();  // a deque: earlier heads stay where they are
    message.request = request_;
    return message.head;
  }

  int on_head(http::MessageHead& head) override {
    require(!messages_.empty());
    RecordedMessage& message = messages_.back();
    require(&head == &message.head && !message.head_done);
    message.head_done = true;
    if (kind_ == http::MessageKind::Request) {
      check_request_head(head, limits_, input_.base(), input_.arrived());
      message.head_accepted = true;
      return pause();  // the proxy routes and connects before it reads on
    }
    check_response_head(head, limits_, input_.base(), input_.arrived(), request_.was_head);
    if (head.status == 101 && !request_.was_upgrade) return -1;  // switching protocols nobody asked for
    message.head_accepted = true;
    return 0;
  }

  void on_body(const char* data, std::size_t length) override {
    require(!messages_.empty());
    RecordedMessage& message = messages_.back();
    require(message.head_done && !message.complete);
    require(message.head.framing != http::BodyFraming::None);
    // An empty piece would become a terminating chunk once re-chunked.
    require(length > 0);
    require(input_.holds(data, length));
    message.body.append(data, length);
    message.body_pieces.push_back(
        http::Span{static_cast<std::uint32_t>(data - input_.base()), static_cast<std::uint32_t>(length)});
  }

  int on_message_complete() override {
    require(!messages_.empty());
    RecordedMessage& message = messages_.back();
    require(message.head_done && !message.complete);
    message.complete = true;
    const auto& head = message.head;
    if (head.framing == http::BodyFraming::ContentLength) require(message.body.size() == head.content_length);
    if (head.framing == http::BodyFraming::None) require(message.body.empty());
    if (kind_ == http::MessageKind::Request) {
      // The next pipelined request waits for this one's response; an upgrade hands over the rest.
      return head.upgrade ? 0 : pause();
    }
    if (head.status / 100 == 1 && head.status != 101) return 0;  // the final response follows
    if (head.status == 101) return 0;  // an accepted switch: the session tunnels from here
    return pause();
  }

  [[nodiscard]] const std::deque<RecordedMessage>& messages() const { return messages_; }
  [[nodiscard]] const RecordedMessage* last() const { return messages_.empty() ? nullptr : &messages_.back(); }
  // How often an answer asked the parser to pause.
  [[nodiscard]] std::size_t pauses() const { return pauses_; }

 private:
  int pause() {
    ++pauses_;
    return haven::http::kSinkPause;
  }

  http::MessageKind kind_;
  const ArrivingInput& input_;
  http::ParseLimits limits_;
  AnsweredRequest request_;
  std::deque<RecordedMessage> messages_;
  std::size_t pauses_ = 0;
};

inline bool same_span(http::Span a, http::Span b) { return a.offset == b.offset && a.length == b.length; }

inline bool same_head(const http::MessageHead& a, const http::MessageHead& b) {
  if (a.headers.size() != b.headers.size()) return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    const auto& x = a.headers[i];
    const auto& y = b.headers[i];
    if (!same_span(x.name, y.name) || !same_span(x.value, y.value) || x.kind != y.kind) return false;
  }
  return a.method == b.method && same_span(a.target, b.target) && a.status == b.status &&
         same_span(a.reason, b.reason) && a.version_major == b.version_major && a.version_minor == b.version_minor &&
         a.host_count == b.host_count && a.framing == b.framing && a.content_length == b.content_length &&
         a.keep_alive == b.keep_alive && a.upgrade == b.upgrade && a.expect_continue == b.expect_continue;
}

// Two recordings of the same bytes agree on every finished head and on the body bytes, however
// the bytes were cut into reads (bodies may arrive in other pieces). A last message whose head
// never finished does not count: where bytes are refused, one cut may reach the refusal before
// llhttp began that message and another after (nothing of it reaches a peer either way).
inline bool same_messages(const RecordingSink& a, const RecordingSink& b) {
  const auto& x = a.messages();
  const auto& y = b.messages();
  const auto counted = [](const auto& messages) {
    return messages.empty() || messages.back().head_done ? messages.size() : messages.size() - 1;
  };
  if (counted(x) != counted(y)) return false;
  for (std::size_t i = 0; i < counted(x); ++i) {
    if (x[i].head_done != y[i].head_done || x[i].head_accepted != y[i].head_accepted ||
        x[i].complete != y[i].complete || x[i].body != y[i].body) {
      return false;
    }
    if (x[i].head_done && !same_head(x[i].head, y[i].head)) return false;
  }
  return true;
}

}  // namespace haven::fuzz

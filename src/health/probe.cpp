#include "haven/health/probe.hpp"

#include <fmt/format.h>

#include "haven/health/checker.hpp"

namespace haven::health {

int parse_status_line(std::string_view bytes) {
  // "HTTP/1.x NNN" followed by a space or the end of the line.
  if (bytes.size() < 12 || bytes.substr(0, 7) != "HTTP/1." || (bytes[7] != '0' && bytes[7] != '1') || bytes[8] != ' ') {
    return 0;
  }
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (bytes[i] < '0' || bytes[i] > '9') return 0;
    status = status * 10 + (bytes[i] - '0');
  }
  if (bytes.size() > 12 && bytes[12] != ' ' && bytes[12] != '\r') return 0;
  return status >= 100 && status <= 599 ? status : 0;
}

Probe::Probe(net::Loop& loop, Checker& checker, std::uint64_t check_id, const std::string& request,
             const config::Check& check)
    : stream_(loop, *this),
      timer_(loop, &Probe::on_timeout, this),
      checker_(&checker),
      check_id_(check_id),
      request_(request),
      check_(check) {}

void Probe::start(const net::SocketAddress& address, core::Duration timeout) {
  started_ = std::chrono::steady_clock::now();
  timer_.start(timeout);
  const int rc = stream_.connect(address.get());
  if (rc != 0) finish(false, net::TcpStream::error_name(rc), net::TcpStream::is_local_resource_error(rc));
}

void Probe::cancel() {
  checker_ = nullptr;
  finish(false, "cancelled");
}

void Probe::on_connect_done(int status) {
  if (done_) return;
  if (status != 0) {
    finish(false, net::TcpStream::error_name(status));
    return;
  }
  const net::IoSlice slice{request_.data(), request_.size()};
  if (stream_.write({&slice, 1}) == net::WriteOutcome::Failed) {
    finish(false, net::TcpStream::error_name(stream_.last_error()));
    return;
  }
  if (stream_.read_start() != 0) finish(false, "cannot read");
}

char* Probe::on_alloc(std::size_t& capacity) {
  capacity = sizeof response_ - received_;
  return response_ + received_;
}

void Probe::on_read(std::size_t length) {
  if (done_) return;
  received_ += length;
  const std::string_view bytes(response_, received_);
  if (bytes.find("\r\n") == std::string_view::npos && received_ < sizeof response_) return;  // need the whole line
  const int status = parse_status_line(bytes);
  if (status == 0) {
    finish(false, "invalid response");
  } else {
    status_ = status;
    finish(check_.status_expected(status), fmt::format("status {}", status));
  }
}

void Probe::on_read_end(int status) {
  if (done_) return;
  finish(false, status == net::TcpStream::kEof ? "connection closed without a response"
                                               : net::TcpStream::error_name(status));
}

void Probe::on_write_done(int status) {
  if (!done_ && status != 0) finish(false, net::TcpStream::error_name(status));
}

void Probe::on_timeout(void* self) noexcept { static_cast<Probe*>(self)->finish(false, "timeout"); }

void Probe::finish(bool ok, const std::string& reason, bool no_verdict) {
  if (done_) return;
  done_ = true;
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  Checker* checker = checker_;
  checker_ = nullptr;
  timer_.close(this);
  stream_.close(this);
  if (checker != nullptr) checker->on_probe_result(check_id_, ok, status_, reason, elapsed.count(), no_verdict);
}

void Probe::on_handle_closed() {
  if (--open_handles_ == 0) delete this;
}

}  // namespace haven::health

#include "haven/health/probe.hpp"

#include <fmt/format.h>

#include "haven/health/checker.hpp"

namespace haven::health {

Probe::Probe(net::Loop& loop, net::BufferPool& buffers, Checker& checker, std::uint64_t check_id,
             const std::string& request, const config::Check& check, const http::ParseLimits& limits,
             std::shared_ptr<tls::ClientContext> tls, const std::string& server_name)
    : tcp_(loop, *this),
      stream_(&tcp_),
      timer_(loop, &Probe::on_timeout, this),
      buffers_(buffers),
      checker_(&checker),
      check_id_(check_id),
      request_(request),
      check_(check),
      reader_(*this) {
  reader_.begin(limits, check.method == "HEAD");
  if (tls != nullptr) {
    net::StreamHandler& handler = *this;
    tls_ = std::make_unique<tls::TlsStream>(loop, tcp_, buffers, std::move(tls), server_name, handler);
    stream_ = tls_.get();
  }
}

void Probe::start(const net::SocketAddress& address, core::Duration timeout) {
  started_ = std::chrono::steady_clock::now();
  timer_.start(timeout);
  const int rc = stream_->connect(address.get());
  if (rc != 0) finish(false, net::Stream::error_name(rc), net::Stream::is_local_resource_error(rc));
}

void Probe::cancel() {
  checker_ = nullptr;
  finish(false, "cancelled");
}

void Probe::on_connect_done(int status) {
  if (done_) return;
  if (status == net::Stream::kTlsFailed && tls_ != nullptr) {
    finish(false, "TLS: " + tls_->failure());
    return;
  }
  if (status != 0) {
    finish(false, net::Stream::error_name(status));
    return;
  }
  const net::IoSlice slice{request_.data(), request_.size()};
  if (stream_->write({&slice, 1}) == net::WriteOutcome::Failed) {
    finish(false, net::Stream::error_name(stream_->last_error()));
    return;
  }
  if (stream_->read_start() != 0) finish(false, "cannot read");
}

char* Probe::on_alloc(std::size_t& capacity) {
  if (done_) {
    capacity = sizeof discard_;  // read after the verdict: thrown away (on_read ignores it)
    return discard_;
  }
  char* at = reader_.alloc(buffers_, capacity, false);
  if (at == nullptr) {
    capacity = 0;  // no memory: libuv reports UV_ENOBUFS, a check that could not run here
    return discard_;
  }
  return at;
}

void Probe::on_read(std::size_t length) {
  if (done_) return;
  reader_.received(length);
  switch (reader_.parse()) {
    case upstream::ResponseStep::NeedMore:
      return;
    case upstream::ResponseStep::Invalid:
      finish(false, fmt::format("invalid response: {}", reader_.failure_reason()));
      return;
    case upstream::ResponseStep::Complete:
    case upstream::ResponseStep::Upgrade:
      finish(check_.status_expected(status_), fmt::format("status {}", status_));
      return;
  }
}

int Probe::on_head(http::MessageHead& head) {
  status_ = head.status;
  return http::kSinkPause;  // the verdict needs nothing more
}

void Probe::on_read_end(int status) {
  if (done_) return;
  if (status == net::Stream::kTlsFailed && tls_ != nullptr) {
    finish(false, "TLS: " + tls_->failure());
    return;
  }
  finish(false, status == net::Stream::kEof ? "connection closed without a response" : net::Stream::error_name(status),
         net::Stream::is_local_resource_error(status));
}

void Probe::on_write_done(int status) {
  if (!done_ && status != 0) finish(false, net::Stream::error_name(status));
}

void Probe::on_timeout(void* self) noexcept { static_cast<Probe*>(self)->finish(false, "timeout"); }

void Probe::finish(bool ok, const std::string& reason, bool no_verdict) {
  if (done_) return;
  done_ = true;
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
  // The buffer goes back now: the checker (and its pool) may be gone before the handles close.
  reader_.release(buffers_);
  Checker* checker = checker_;
  checker_ = nullptr;
  timer_.close(this);
  stream_->close(this);
  if (checker != nullptr) checker->on_probe_result(check_id_, ok, status_, reason, elapsed.count(), no_verdict);
}

void Probe::on_handle_closed() {
  if (--open_handles_ == 0) delete this;
}

}  // namespace haven::health

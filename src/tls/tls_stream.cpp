#include "haven/tls/tls_stream.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "haven/tls/client_context.hpp"
#include "haven/tls/server_context.hpp"
#include "openssl_error.hpp"

namespace haven::tls {

namespace {
// Small writes (a response head, then a small body) are gathered into one record: one record
// costs one MAC and 22-29 bytes on the wire, however small. One per worker thread.
thread_local char plaintext_scratch[16384];
// What OpenSSL may have written (alerts, key update answers) while TCP cannot take it: past this
// the peer's bytes are not read until it drains, so a peer that never reads cannot grow it.
constexpr std::size_t kMaxPendingOutput = 64 * 1024;
}  // namespace

// The BIO under every TlsStream: OpenSSL reads the ciphertext the stream received and appends
// what it writes to the stream's out-queue. It never blocks and never touches a socket.
struct BioAccess {
  static TlsStream& stream(BIO* bio) { return *static_cast<TlsStream*>(BIO_get_data(bio)); }

  static int on_write(BIO* bio, const char* data, int length) noexcept {
    BIO_clear_retry_flags(bio);
    return stream(bio).bio_write(data, length);
  }
  static int on_read(BIO* bio, char* out, int length) noexcept {
    BIO_clear_retry_flags(bio);
    const int n = stream(bio).bio_read(out, length);
    if (n == 0) {
      BIO_set_retry_read(bio);  // no byte yet: OpenSSL reports WANT_READ
      return -1;
    }
    return n;
  }
  static long on_ctrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) noexcept {
    switch (command) {
      case BIO_CTRL_FLUSH:
      case BIO_CTRL_PUSH:
      case BIO_CTRL_POP:
        return 1;
      default:
        return 0;
    }
  }
  static int on_create(BIO* bio) noexcept {
    BIO_set_init(bio, 1);
    return 1;
  }
  static int on_destroy(BIO* /*bio*/) noexcept { return 1; }

  static BIO_METHOD* method() {
    static BIO_METHOD* const kMethod = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "haven stream");
      BIO_meth_set_write(m, &BioAccess::on_write);
      BIO_meth_set_read(m, &BioAccess::on_read);
      BIO_meth_set_ctrl(m, &BioAccess::on_ctrl);
      BIO_meth_set_create(m, &BioAccess::on_create);
      BIO_meth_set_destroy(m, &BioAccess::on_destroy);
      return m;
    }();
    return kMethod;
  }
};

TlsStream::TlsStream(net::Loop& loop, net::TcpStream& tcp, net::BufferPool& buffers,
                     std::shared_ptr<const ServerContext> context, net::StreamHandler& handler)
    : tcp_(tcp), buffers_(buffers), handler_(&handler), context_(context), deferred_(loop, &TlsStream::on_deferred, this) {
  tcp_.set_handler(*this);
  setup_ssl(context->native());
  if (ssl_ != nullptr) SSL_set_accept_state(ssl_);
}

TlsStream::TlsStream(net::Loop& loop, net::TcpStream& tcp, net::BufferPool& buffers,
                     std::shared_ptr<ClientContext> context, const std::string& server_name,
                     net::StreamHandler& handler)
    : tcp_(tcp),
      buffers_(buffers),
      handler_(&handler),
      context_(context),
      deferred_(loop, &TlsStream::on_deferred, this),
      client_(true) {
  tcp_.set_handler(*this);
  setup_ssl(context->native());
  if (ssl_ == nullptr) return;
  SSL_set_connect_state(ssl_);
  server_name_ = server_name;
  context->prepare(ssl_, server_name_);
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);  // frees the BIO too
  buffers_.release(input_);
}

void TlsStream::setup_ssl(void* ssl_ctx) {
  ssl_ = SSL_new(static_cast<SSL_CTX*>(ssl_ctx));
  if (ssl_ == nullptr) {
    failure_ = "cannot create a TLS session: " + openssl_error();
    return;
  }
  bio_ = BIO_new(BioAccess::method());
  if (bio_ == nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    failure_ = "cannot create a TLS session: " + openssl_error();
    return;
  }
  BIO_set_data(bio_, this);
  SSL_set_bio(ssl_, bio_, bio_);  // one BIO both ways: one reference, owned by the SSL object
}

std::string TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  if (ssl_ != nullptr) SSL_get0_alpn_selected(ssl_, &data, &length);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), length);
}

const char* TlsStream::version() const { return ssl_ != nullptr ? SSL_get_version(ssl_) : ""; }

// ---------------------------------------------------------------------------------------------
// The BIO's two ends

int TlsStream::bio_write(const char* data, int length) {
  output_.append(data, static_cast<std::size_t>(length));
  return length;
}

int TlsStream::bio_read(char* out, int length) {
  if (input_ == nullptr || input_pos_ >= input_->end) return 0;
  const std::size_t n = std::min(static_cast<std::size_t>(length), input_->end - input_pos_);
  std::memcpy(out, input_->data + input_pos_, n);
  input_pos_ += n;
  return static_cast<int>(n);
}

// ---------------------------------------------------------------------------------------------
// Connecting and the handshake

int TlsStream::connect(const sockaddr* address) {
  if (ssl_ == nullptr) return kNoBuffers;  // SSL_new failed: out of memory here, not the server's doing
  return tcp_.connect(address);
}

void TlsStream::on_connect_done(int status) {
  if (closing_) return;
  if (status != 0) {
    handler_->on_connect_done(status);
    return;
  }
  const int rc = tcp_.read_start();
  if (rc != 0) {
    handler_->on_connect_done(rc);
    return;
  }
  process_input();  // sends the ClientHello
}

bool TlsStream::continue_handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    handshake_done_ = true;
    resumed_ = SSL_session_reused(ssl_) == 1;
    if (!flush()) {
      fail("cannot send: connection lost");
      return false;
    }
    handler_->on_connect_done(0);
    return !closing_;
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    if (!flush()) {
      fail("cannot send: connection lost");
    } else if (tcp_eof_) {
      fail("the peer closed the connection during the handshake");
    }
    return false;
  }
  std::string reason = openssl_error("handshake failed");
  if (client_) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) reason = std::string("certificate not trusted: ") + X509_verify_cert_error_string(verify);
  }
  flush();  // the alert, so the peer learns why
  fail(std::move(reason));
  return false;
}

void TlsStream::fail(std::string reason, int status) {
  if (failure_.empty() && status == kTlsFailed) failure_ = std::move(reason);
  last_error_ = status;
  if (client_ && !handshake_done_) {
    if (read_end_reported_) return;
    read_end_reported_ = true;  // a client that never connected hears of it once, as a connect failure
    handler_->on_connect_done(status);
    return;
  }
  report_read_end(status);
}

void TlsStream::report_read_end(int status) {
  if (read_end_reported_) return;
  read_end_reported_ = true;
  reading_ = false;
  tcp_.read_stop();
  handler_->on_read_end(status);
}

// ---------------------------------------------------------------------------------------------
// Reading

char* TlsStream::on_alloc(std::size_t& capacity) {
  if (input_ == nullptr) input_ = buffers_.acquire();
  if (input_ == nullptr) {
    capacity = 0;  // libuv reports UV_ENOBUFS: the connection ends
    return plaintext_scratch;
  }
  if (input_pos_ > 0 && input_->room(false) == 0) {
    std::memmove(input_->data, input_->data + input_pos_, input_->end - input_pos_);
    input_->end -= input_pos_;
    input_pos_ = 0;
  }
  capacity = input_->room(false);
  if (capacity == 0) capacity = input_->room(true);
  return input_->data + input_->end;
}

void TlsStream::on_read(std::size_t length) {
  if (closing_) return;
  input_->end += length;
  process_input();
  // Ciphertext piles up only while the reader above has stopped, or while what OpenSSL answers
  // cannot go out: then TCP stops too.
  if ((handshake_done_ && !reading_) || output_full()) tcp_.read_stop();
}

bool TlsStream::output_full() const { return output_.size() + in_flight_.size() > kMaxPendingOutput; }

bool TlsStream::has_buffered_input() const {
  return (input_ != nullptr && input_pos_ < input_->end) || (ssl_ != nullptr && SSL_pending(ssl_) > 0);
}

void TlsStream::resume_tcp_reading() {
  if (closing_ || tcp_eof_ || output_full()) return;
  if (!handshake_done_ || reading_) tcp_.read_start();
}

void TlsStream::on_read_end(int status) {
  if (closing_) return;
  tcp_eof_ = true;
  tcp_eof_status_ = status;
  if (!handshake_done_) {
    // A TCP error or a local shortage is what it is; only a close in the middle is TLS's failure.
    if (status == kEof) {
      fail("the peer closed the connection during the handshake");
    } else {
      fail(error_name(status), status);
    }
    return;
  }
  process_input();
}

void TlsStream::process_input() {
  if (processing_ || closing_ || ssl_ == nullptr) return;
  processing_ = true;
  if (!handshake_done_ && !continue_handshake()) {
    processing_ = false;
    release_input_if_empty();
    return;
  }
  while (reading_ && !closing_ && !read_end_reported_) {
    // Only a record with application data gets the reader's buffer (taking one may cost it memory).
    if (SSL_pending(ssl_) == 0) {
      char probe = 0;
      ERR_clear_error();
      const int peeked = SSL_peek(ssl_, &probe, 1);
      if (peeked <= 0) {
        const int error = SSL_get_error(ssl_, peeked);
        if (error == SSL_ERROR_WANT_READ) {
          // TCP ended without a close_notify: whatever was being sent may be cut short, and a
          // response delimited by the close must not pass for complete.
          if (tcp_eof_) report_read_end(tcp_eof_status_ == kEof ? kTlsTruncated : tcp_eof_status_);
          break;
        }
        if (error == SSL_ERROR_ZERO_RETURN) {
          report_read_end(kEof);  // close_notify
          break;
        }
        fail(openssl_error("TLS read failed"));
        break;
      }
    }
    std::size_t capacity = 0;
    char* at = handler_->on_alloc(capacity);
    if (capacity == 0) {
      fail("out of memory for a read buffer", kNoBuffers);
      break;
    }
    // Every record already here goes out in one delivery, as one TCP read would: a peer sending
    // many tiny records costs one handler call, not one per record.
    std::size_t filled = 0;
    bool stop = false;
    while (filled < capacity) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, at + filled, static_cast<int>(std::min<std::size_t>(capacity - filled, 1U << 30)));
      if (n > 0) {
        filled += static_cast<std::size_t>(n);
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_ZERO_RETURN && filled == 0) {
        fail(openssl_error("TLS read failed"));
        stop = true;
      }
      break;  // the next turn of the outer loop reports a close_notify or an error after these bytes
    }
    if (stop) break;
    if (filled == 0) continue;
    net::StreamHandler* reader = handler_;
    handler_->on_read(filled);
    // The reader handed the stream on (a pooled connection): the next one reads on its own turn.
    if (handler_ != reader) break;
  }
  // Reading may have made OpenSSL answer something (a key update, an alert).
  if (!closing_ && !output_.empty() && !flush()) fail("cannot send: connection lost");
  processing_ = false;
  release_input_if_empty();
}

void TlsStream::release_input_if_empty() {
  if (input_ != nullptr && input_pos_ >= input_->end) {
    buffers_.release(input_);
    input_ = nullptr;
    input_pos_ = 0;
  }
}

int TlsStream::read_start() {
  if (closing_) return 0;
  reading_ = true;
  int rc = 0;
  if (!tcp_eof_ && !output_full()) rc = tcp_.read_start();
  // Bytes already here raise no event: they are handled on the loop's next turn (not now, inside
  // whatever called read_start).
  if (handshake_done_ && ((input_ != nullptr && input_pos_ < input_->end) || SSL_pending(ssl_) > 0 || tcp_eof_)) {
    schedule_processing();
  }
  return rc;
}

void TlsStream::read_stop() {
  reading_ = false;
  // During the handshake TCP keeps reading: the handshake is this stream's own business.
  if (handshake_done_) tcp_.read_stop();
}

void TlsStream::schedule_processing() {
  if (!deferred_.active() && !closing_) deferred_.start(core::Duration(0));
}

void TlsStream::on_deferred(void* self) noexcept { static_cast<TlsStream*>(self)->process_input(); }

// ---------------------------------------------------------------------------------------------
// Writing

net::WriteOutcome TlsStream::write(std::span<const net::IoSlice> slices) {
  if (closing_ || user_write_pending_ || !handshake_done_ || ssl_ == nullptr) {
    last_error_ = kTlsFailed;
    return net::WriteOutcome::Failed;
  }
  std::size_t gathered = 0;
  const auto seal = [this](const char* data, std::size_t length) {
    ERR_clear_error();
    return length == 0 || SSL_write(ssl_, data, static_cast<int>(length)) > 0;
  };
  for (const net::IoSlice& slice : slices) {
    if (slice.length == 0) continue;
    if (gathered + slice.length <= sizeof plaintext_scratch) {
      std::memcpy(plaintext_scratch + gathered, slice.data, slice.length);
      gathered += slice.length;
      continue;
    }
    if (!seal(plaintext_scratch, gathered)) {
      failure_ = openssl_error("TLS write failed");
      last_error_ = kTlsFailed;
      return net::WriteOutcome::Failed;
    }
    gathered = 0;
    if (slice.length <= sizeof plaintext_scratch) {
      std::memcpy(plaintext_scratch, slice.data, slice.length);
      gathered = slice.length;
    } else if (!seal(slice.data, slice.length)) {
      failure_ = openssl_error("TLS write failed");
      last_error_ = kTlsFailed;
      return net::WriteOutcome::Failed;
    }
  }
  if (!seal(plaintext_scratch, gathered)) {
    failure_ = openssl_error("TLS write failed");
    last_error_ = kTlsFailed;
    return net::WriteOutcome::Failed;
  }
  if (!flush()) return net::WriteOutcome::Failed;
  if (in_flight_.empty() && output_.empty()) return net::WriteOutcome::Done;
  user_write_pending_ = true;
  return net::WriteOutcome::Pending;
}

bool TlsStream::flush() {
  if (output_.empty() || tcp_.write_pending()) return true;  // a pending write's end flushes the rest
  in_flight_.swap(output_);
  output_.clear();
  const net::IoSlice slice{in_flight_.data(), in_flight_.size()};
  switch (tcp_.write({&slice, 1})) {
    case net::WriteOutcome::Done:
      // Nothing is kept for an idle connection: the next write allocates again.
      std::string().swap(in_flight_);
      if (shutdown_after_flush_ && output_.empty()) tcp_.shutdown();
      return true;
    case net::WriteOutcome::Pending:
      return true;
    case net::WriteOutcome::Failed:
      last_error_ = tcp_.last_error();
      return false;
  }
  return false;
}

void TlsStream::on_write_done(int status) {
  if (closing_) return;
  std::string().swap(in_flight_);
  if (status != 0) {
    last_error_ = status;
    if (user_write_pending_) {
      user_write_pending_ = false;
      handler_->on_write_done(status);
    }
    return;
  }
  if (!output_.empty()) {
    if (!flush()) {
      if (user_write_pending_) {
        user_write_pending_ = false;
        handler_->on_write_done(last_error_);
      }
      return;
    }
    if (tcp_.write_pending()) return;
  }
  if (shutdown_after_flush_) tcp_.shutdown();
  resume_tcp_reading();
  if (user_write_pending_) {
    user_write_pending_ = false;
    handler_->on_write_done(0);
  }
}

void TlsStream::shutdown() {
  if (closing_ || shutdown_after_flush_) return;
  shutdown_after_flush_ = true;
  if (handshake_done_ && ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // close_notify: the peer can tell the end from a cut
    ERR_clear_error();
  }
  if (!output_.empty()) {
    flush();
    return;
  }
  if (!tcp_.write_pending()) tcp_.shutdown();
}

void TlsStream::close(net::HandleOwner* closed_owner, bool reset) {
  if (closing_) return;
  closing_ = true;
  // A connection that ends without a TLS failure keeps its session resumable (OpenSSL would
  // otherwise drop it from the cache as if the connection had failed).
  if (ssl_ != nullptr && handshake_done_ && failure_.empty() && !reset) {
    // A close_notify, if the socket takes it at once, so the peer can tell a complete message
    // from a cut one; it is not waited for.
    if (!shutdown_after_flush_ && !tcp_.write_pending() && in_flight_.empty()) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
      ERR_clear_error();
      flush();
    }
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  reading_ = false;
  closed_owner_ = closed_owner;
  deferred_.close(this);
  tcp_.close(this, reset);
}

void TlsStream::on_handle_closed() {
  if (--open_handles_ == 0 && closed_owner_ != nullptr) closed_owner_->on_handle_closed();
}

}  // namespace haven::tls

#pragma once
// A blocking HTTP/1.1 client for the admin listener (`haven ctl`): one request per connection,
// the whole answer read until the server closes. Loopback or whatever `--admin` names; never used
// by the proxy itself.
#include <chrono>
#include <string>
#include <string_view>

namespace haven::app {

struct AdminUrl {
  std::string host = "127.0.0.1";
  std::string port = "9000";
  std::string unix_path;  // set: a unix socket instead of host and port
};

// "http://127.0.0.1:9000", "127.0.0.1:9000", "http://[::1]:9000/" -> host and port;
// "unix:/run/haven/admin.sock" -> the socket.
bool parse_admin_url(std::string_view text, AdminUrl& out, std::string& error);

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// Sends one request; false with `error` set when haven could not be reached or answered nothing
// HTTP-shaped.
bool admin_request(const AdminUrl& url, std::string_view method, std::string_view path, std::string_view token,
                   std::string_view body, HttpAnswer& answer, std::string& error,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// Connects to HOST:PORT (numeric) and closes again: "" when the connection was accepted within
// `timeout`, else why not ("connection refused", "no answer within 1000 ms").
std::string tcp_accepts(const std::string& host, int port, std::chrono::milliseconds timeout);

}  // namespace haven::app

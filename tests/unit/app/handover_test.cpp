#include "haven/app/handover.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "haven/app/inherited_sockets.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using haven::app::HandedListener;
using haven::app::HandedServer;
using haven::app::Handover;
using haven::app::handover_from_json;
using haven::app::handover_to_json;
using haven::app::InheritedSockets;

namespace {

HandedListener frontend(std::string name, std::string host, std::uint16_t configured, std::uint16_t bound) {
  HandedListener listener;
  listener.frontend = std::move(name);
  listener.host = std::move(host);
  listener.configured_port = configured;
  listener.bound_port = bound;
  listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  return listener;
}

haven::config::Frontend frontend_config(std::string name, std::string host, std::uint16_t port) {
  haven::config::Frontend config;
  config.name = std::move(name);
  config.bind.host = std::move(host);
  config.bind.port = port;
  return config;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("what the old process writes the new one reads back") {
  Handover handover;
  handover.pid = 4242;
  handover.version = "1.2.3";
  HandedListener admin;
  admin.kind = HandedListener::Kind::Admin;
  admin.unix_path = "/run/haven \"admin\".sock";
  handover.listeners = {frontend("web", "::1", 0, 43210), admin};
  handover.servers = {{"api/a", "127.0.0.1:9000", "DOWN", "drain", 7}, {"api/b", "[::1]:80", "UP", "ready", {}}};
  Handover read;
  REQUIRE(handover_from_json(handover_to_json(handover), read).empty());
  CHECK(read.pid == 4242);
  CHECK(read.version == "1.2.3");
  REQUIRE(read.listeners.size() == 2);
  CHECK(read.listeners[0].frontend == "web");
  CHECK(read.listeners[0].host == "::1");
  CHECK(read.listeners[0].bound_port == 43210);
  CHECK(read.listeners[1].kind == HandedListener::Kind::Admin);
  CHECK(read.listeners[1].unix_path == admin.unix_path);
  REQUIRE(read.servers.size() == 2);
  CHECK(read.servers[0].weight == 7);
  CHECK(!read.servers[1].weight);
  CHECK(read.servers[1].address == "[::1]:80");
  ::close(handover.listeners[0].fd);
}

TEST_CASE("a refusal and a garbled message are errors that say so") {
  Handover read;
  CHECK(handover_from_json(R"({"refused":"haven is shutting down"})", read) ==
        "the running haven refused: haven is shutting down");
  CHECK(handover_from_json("{not json", read).starts_with("the running haven sent unreadable state"));
}

TEST_CASE("every old worker's socket goes to some new worker, and the rest are closed") {
  Handover handover;
  // Three old workers on frontend web, one on api.
  for (int i = 0; i < 3; ++i) handover.listeners.push_back(frontend("web", "127.0.0.1", 8080, 8080));
  handover.listeners.push_back(frontend("api", "127.0.0.1", 0, 40000));
  handover.listeners.push_back(frontend("gone", "127.0.0.1", 9090, 9090));
  const int gone_fd = handover.listeners.back().fd;
  std::vector<int> web_fds;
  for (int i = 0; i < 3; ++i) web_fds.push_back(handover.listeners[static_cast<std::size_t>(i)].fd);
  {
    InheritedSockets inherited(std::move(handover));
    std::uint16_t port = 0;
    SUBCASE("fewer new workers: one takes two") {
      const auto dealt = inherited.take_frontend(frontend_config("web", "127.0.0.1", 8080), 2, port);
      REQUIRE(dealt.size() == 2);
      CHECK(dealt[0].size() == 2);
      CHECK(dealt[1].size() == 1);
      CHECK(port == 8080);
      for (const auto& fds : dealt) {
        for (const int fd : fds) ::close(fd);
      }
    }
    SUBCASE("more new workers: the others accept on copies, none joins the port's group anew") {
      const auto dealt = inherited.take_frontend(frontend_config("web", "127.0.0.1", 8080), 4, port);
      REQUIRE(dealt.size() == 4);
      REQUIRE(dealt[3].size() == 1);
      CHECK(std::find(web_fds.begin(), web_fds.end(), dealt[3][0]) == web_fds.end());
      CHECK(is_open(dealt[3][0]));
      for (const auto& fds : dealt) {
        for (const int fd : fds) ::close(fd);
      }
    }
    SUBCASE("a renamed frontend keeps its sockets, one with port 0 only under its name") {
      CHECK(!inherited.take_frontend(frontend_config("www", "127.0.0.1", 8080), 1, port).empty());
      CHECK(inherited.take_frontend(frontend_config("api2", "127.0.0.1", 0), 1, port).empty());
      const auto api = inherited.take_frontend(frontend_config("api", "127.0.0.1", 0), 1, port);
      REQUIRE(api.size() == 1);
      CHECK(port == 40000);
      for (const auto& fds : api) {
        for (const int fd : fds) ::close(fd);
      }
    }
    // Not taken by any frontend: closed before the new process says it serves.
    CHECK(is_open(gone_fd));
    CHECK(inherited.close_unused() >= 1);
    CHECK(!is_open(gone_fd));
  }
}

TEST_CASE("a ticket key survives its trip as text, and a garbled one is refused") {
  haven::tls::TicketKey key;
  for (std::size_t i = 0; i < key.name.size(); ++i) key.name[i] = static_cast<unsigned char>(i);
  key.aes_key.fill(0xab);
  key.hmac_key.fill(0x01);
  const std::string text = haven::app::ticket_key_text(key);
  CHECK(text.size() == 160);
  haven::tls::TicketKey back;
  REQUIRE(haven::app::parse_ticket_key(text, back));
  CHECK(back.name == key.name);
  CHECK(back.aes_key == key.aes_key);
  CHECK(back.hmac_key == key.hmac_key);
  CHECK(!haven::app::parse_ticket_key(text.substr(1), back));
  CHECK(!haven::app::parse_ticket_key("zz" + text.substr(2), back));
}

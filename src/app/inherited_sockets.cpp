#include "haven/app/inherited_sockets.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

namespace haven::app {

namespace {

std::optional<state::Health> parse_health(std::string_view text) {
  if (text == "UP") return state::Health::Up;
  if (text == "DOWN") return state::Health::Down;
  if (text == "CHECKING") return state::Health::Checking;
  return std::nullopt;
}

}  // namespace

std::string server_endpoint(const config::Address& address) {
  return address.is_ipv6 ? fmt::format("[{}]:{}", address.host, address.port)
                         : fmt::format("{}:{}", address.host, address.port);
}

InheritedSockets::~InheritedSockets() {
  for (const HandedListener& listener : handover_.listeners) {
    if (listener.fd >= 0) ::close(listener.fd);
  }
}

std::vector<std::vector<int>> InheritedSockets::take_frontend(const config::Frontend& frontend, std::size_t workers,
                                                              std::uint16_t& port) {
  const auto same_bind = [&](const HandedListener& listener) {
    return listener.kind == HandedListener::Kind::Frontend && listener.fd >= 0 &&
           listener.host == frontend.bind.host && listener.configured_port == frontend.bind.port;
  };
  // Every old worker had its own socket for a frontend: all of them, or the connections waiting
  // in the queue of one left behind would be reset when it closes.
  std::vector<HandedListener*> matches;
  for (HandedListener& listener : handover_.listeners) {
    if (same_bind(listener) && listener.frontend == frontend.name) matches.push_back(&listener);
  }
  if (matches.empty() && frontend.bind.port != 0) {
    std::string renamed;
    for (HandedListener& listener : handover_.listeners) {
      if (!same_bind(listener) || (!renamed.empty() && listener.frontend != renamed)) continue;
      renamed = listener.frontend;
      matches.push_back(&listener);
    }
  }
  std::vector<std::vector<int>> dealt(workers);
  if (matches.empty() || workers == 0) return {};
  port = matches.front()->bound_port;
  for (std::size_t i = 0; i < matches.size(); ++i) {
    dealt[i % workers].push_back(matches[i]->fd);
    matches[i]->fd = -1;
  }
  // More workers than sockets: the others accept on a copy of one of them rather than joining the
  // port's SO_REUSEPORT group with a socket of their own. A new member would get connections in
  // its own queue at once, and reset them if this process then failed to start.
  for (std::size_t w = matches.size(); w < workers; ++w) {
    const int copy = ::fcntl(dealt[w % matches.size()].front(), F_DUPFD_CLOEXEC, 0);
    if (copy >= 0) dealt[w].push_back(copy);
  }
  return dealt;
}

int InheritedSockets::take_admin(const config::Admin& settings) {
  for (HandedListener& listener : handover_.listeners) {
    if (listener.kind != HandedListener::Kind::Admin || listener.fd < 0) continue;
    const bool same = settings.unix_path.empty()
                          ? listener.unix_path.empty() && listener.host == settings.bind.host &&
                                listener.configured_port == settings.bind.port
                          : listener.unix_path == settings.unix_path;
    if (!same) continue;
    const int fd = listener.fd;
    listener.fd = -1;
    return fd;
  }
  return -1;
}

std::size_t InheritedSockets::apply_server_state(const state::Registry& registry) const {
  std::size_t applied = 0;
  for (const HandedServer& handed : handover_.servers) {
    const std::size_t slash = handed.id.find('/');
    if (slash == std::string::npos) continue;
    const auto server = registry.find_server(handed.id.substr(0, slash), handed.id.substr(slash + 1));
    // Another address is another server, whatever its name: it is checked afresh.
    if (server == nullptr || server_endpoint(server->address) != handed.address) continue;
    const auto health = parse_health(handed.health);
    const auto admin = state::parse_admin_state(handed.admin);
    if (!health || !admin) continue;
    server->set_admin_state(*admin);
    server->set_runtime_weight(handed.weight);
    // An unchecked server is UP by definition; its health is not the old process's to hand on.
    if (server->check) server->inherit_health(*health);
    ++applied;
  }
  return applied;
}

std::string ticket_key_text(const tls::TicketKey& key) {
  std::string text;
  const auto append = [&text](const auto& bytes) {
    for (const unsigned char byte : bytes) text += fmt::format("{:02x}", byte);
  };
  append(key.name);
  append(key.aes_key);
  append(key.hmac_key);
  return text;
}

bool parse_ticket_key(std::string_view text, tls::TicketKey& key) {
  constexpr std::size_t kBytes = sizeof key.name + sizeof key.aes_key + sizeof key.hmac_key;
  if (text.size() != 2 * kBytes) return false;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::array<unsigned char, kBytes> bytes{};
  for (std::size_t i = 0; i < kBytes; ++i) {
    const int high = nibble(text[2 * i]);
    const int low = nibble(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    bytes[i] = static_cast<unsigned char>(high * 16 + low);
  }
  std::memcpy(key.name.data(), bytes.data(), key.name.size());
  std::memcpy(key.aes_key.data(), bytes.data() + key.name.size(), key.aes_key.size());
  std::memcpy(key.hmac_key.data(), bytes.data() + key.name.size() + key.aes_key.size(), key.hmac_key.size());
  return true;
}

std::vector<tls::TicketKey> InheritedSockets::ticket_keys() const {
  std::vector<tls::TicketKey> keys;
  for (const std::string& text : handover_.ticket_keys) {
    tls::TicketKey key;
    if (parse_ticket_key(text, key)) keys.push_back(key);
  }
  return keys;
}

std::size_t InheritedSockets::close_unused() {
  std::size_t closed = 0;
  for (HandedListener& listener : handover_.listeners) {
    if (listener.fd < 0) continue;
    ::close(listener.fd);
    listener.fd = -1;
    ++closed;
  }
  return closed;
}

}  // namespace haven::app

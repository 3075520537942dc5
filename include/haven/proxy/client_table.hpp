#pragma once
// Connections per client address, across every worker: one address (a NAT'd wall of screens, or
// one hostile host) may hold at most `limit` connections, so it can never take every slot. A
// lookup is a hash and a short lock on one of many stripes, at accept and at close only.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <sys/socket.h>

namespace haven::proxy {

// A client address as 16 bytes, the port left out: IPv4 as v4-mapped IPv6, IPv6 by its /64.
struct ClientKey {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const ClientKey&) const = default;

  // nullopt for families other than IPv4 and IPv6 (never counted).
  static std::optional<ClientKey> from(const sockaddr* address);
};

struct ClientKeyHash {
  std::size_t operator()(const ClientKey& key) const noexcept;
};

class ClientTable {
 public:
  // `limit` 0: no limit (nothing is counted).
  explicit ClientTable(int limit) : limit_(limit) {}
  ClientTable(const ClientTable&) = delete;
  ClientTable& operator=(const ClientTable&) = delete;

  struct Admission {
    bool admitted = true;
    // Refused, and no warning for this client in the last minute: log one now, saying how many
    // connections were refused since the last one.
    bool warn = false;
    std::uint64_t refused_since_warning = 0;
  };
  // Counts a new connection of `key` unless it is at the limit. `now_ms`: a monotonic clock.
  Admission admit(const ClientKey& key, std::uint64_t now_ms);
  // A connection that admit() counted has closed.
  void release(const ClientKey& key);
  [[nodiscard]] int limit() const { return limit_; }
  [[nodiscard]] int connections_of(const ClientKey& key);

 private:
  static constexpr std::size_t kStripes = 64;
  static constexpr std::uint64_t kWarningInterval = 60000;
  struct Entry {
    int connections = 0;
    std::uint64_t last_warning_ms = 0;
    std::uint64_t refused_since_warning = 0;
    bool warned = false;
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<ClientKey, Entry, ClientKeyHash> entries;
  };
  Stripe& stripe_for(const ClientKey& key) { return stripes_[ClientKeyHash{}(key) % kStripes]; }

  const int limit_;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace haven::proxy

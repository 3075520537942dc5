#include "haven/proxy/client_table.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace haven::proxy {

std::optional<ClientKey> ClientKey::from(const sockaddr* address) {
  ClientKey key;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    key.bytes[10] = key.bytes[11] = 0xff;
    std::memcpy(key.bytes.data() + 12, &v4->sin_addr, 4);
    return key;
  }
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    std::memcpy(key.bytes.data(), &v6->sin6_addr, 16);
    // One IPv6 host usually owns a whole /64 and may use any address in it: the prefix is the
    // client. (v4-mapped addresses keep all their bytes: they are IPv4 clients.)
    static constexpr std::array<std::uint8_t, 12> kV4Mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(key.bytes.data(), kV4Mapped.data(), kV4Mapped.size()) != 0) {
      std::fill(key.bytes.begin() + 8, key.bytes.end(), std::uint8_t{0});
    }
    return key;
  }
  return std::nullopt;
}

std::size_t ClientKeyHash::operator()(const ClientKey& key) const noexcept {
  // FNV-1a: addresses are not chosen by an attacker in a way that defeats it within 64 stripes
  // and a per-process table (and a collision only costs a longer bucket).
  std::uint64_t hash = 1469598103934665603ULL;
  for (const auto byte : key.bytes) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(hash);
}

ClientTable::Admission ClientTable::admit(const ClientKey& key, std::uint64_t now_ms) {
  Admission admission;
  if (limit_ == 0) return admission;
  Stripe& stripe = stripe_for(key);
  const std::lock_guard lock(stripe.mutex);
  Entry& entry = stripe.entries[key];
  if (entry.connections < limit_) {
    ++entry.connections;
    return admission;
  }
  admission.admitted = false;
  ++entry.refused_since_warning;
  if (!entry.warned || now_ms - entry.last_warning_ms >= kWarningInterval) {
    admission.warn = true;
    admission.refused_since_warning = entry.refused_since_warning;
    entry.warned = true;
    entry.last_warning_ms = now_ms;
    entry.refused_since_warning = 0;
  }
  return admission;
}

void ClientTable::release(const ClientKey& key) {
  if (limit_ == 0) return;
  Stripe& stripe = stripe_for(key);
  const std::lock_guard lock(stripe.mutex);
  const auto it = stripe.entries.find(key);
  if (it == stripe.entries.end()) return;
  // The entry (and its warning time) goes with the client's last connection: memory follows the
  // clients connected now, not every address ever seen.
  if (--it->second.connections <= 0) stripe.entries.erase(it);
}

int ClientTable::connections_of(const ClientKey& key) {
  Stripe& stripe = stripe_for(key);
  const std::lock_guard lock(stripe.mutex);
  const auto it = stripe.entries.find(key);
  return it == stripe.entries.end() ? 0 : it->second.connections;
}

}  // namespace haven::proxy

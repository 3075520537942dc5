#pragma once
// The keys that encrypt session tickets, shared by every worker and every configuration (a ticket
// issued on one worker, or before a reload, resumes on any other). A new key takes over every
// rotation interval; tickets made with the previous keys still resume (and are renewed) until
// those keys age out, so a client resumes for up to kKeep rotations after its ticket was issued.
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

namespace haven::tls {

struct TicketKey {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes_key{};
  std::array<unsigned char, 32> hmac_key{};
};

class TicketKeys {
 public:
  static constexpr std::size_t kKeep = 3;  // the current key and two before it
  static constexpr std::chrono::seconds kDefaultRotation{3600};

  TicketKeys();
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // A fresh random key becomes the one new tickets are made with; the oldest is forgotten.
  void rotate();
  // The key to encrypt a new ticket with.
  TicketKey current() const;
  // The key a ticket names, and whether it is not the current one (the ticket should be renewed).
  bool find(const unsigned char* name, TicketKey& out, bool& stale) const;
  // Every key still kept, the current one first: what an upgrade in place hands to the new
  // process, so that tickets issued before it still resume after.
  [[nodiscard]] std::vector<TicketKey> keys() const;
  // Takes over `keys` (the current one first; at most kKeep are kept). None: nothing changes.
  void adopt(const std::vector<TicketKey>& keys);

 private:
  mutable std::mutex mutex_;
  std::array<TicketKey, kKeep> keys_{};  // [0] current
  std::size_t count_ = 0;
};

}  // namespace haven::tls

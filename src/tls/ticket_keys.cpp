#include "haven/tls/ticket_keys.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/rand.h>

namespace haven::tls {

TicketKeys::TicketKeys() { rotate(); }

void TicketKeys::rotate() {
  TicketKey key;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.aes_key.data(), static_cast<int>(key.aes_key.size())) != 1 ||
      RAND_bytes(key.hmac_key.data(), static_cast<int>(key.hmac_key.size())) != 1) {
    // Without randomness no key is safe to issue tickets with; keep the previous one.
    return;
  }
  const std::lock_guard lock(mutex_);
  std::move_backward(keys_.begin(), keys_.end() - 1, keys_.end());
  keys_[0] = key;
  count_ = std::min(count_ + 1, kKeep);
}

TicketKey TicketKeys::current() const {
  const std::lock_guard lock(mutex_);
  return keys_[0];
}

bool TicketKeys::find(const unsigned char* name, TicketKey& out, bool& stale) const {
  const std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < count_; ++i) {
    if (std::memcmp(keys_[i].name.data(), name, keys_[i].name.size()) == 0) {
      out = keys_[i];
      stale = i != 0;
      return true;
    }
  }
  return false;
}

std::vector<TicketKey> TicketKeys::keys() const {
  const std::lock_guard lock(mutex_);
  return {keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(count_)};
}

void TicketKeys::adopt(const std::vector<TicketKey>& keys) {
  if (keys.empty()) return;
  const std::lock_guard lock(mutex_);
  count_ = std::min(keys.size(), kKeep);
  std::copy_n(keys.begin(), count_, keys_.begin());
}

}  // namespace haven::tls

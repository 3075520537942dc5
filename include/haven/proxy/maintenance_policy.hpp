#pragma once
// When a request gets the maintenance page because a backend its page needs is gone, whatever
// its own backend's state (behaviour.md, item 6). Pure: the session supplies the facts.
#include <cstddef>
#include <cstdint>
#include <span>

#include "haven/http/method.hpp"

namespace haven::proxy {

struct NavigationFacts {
  http::Method method = http::Method::Get;
  bool wants_html = false;         // Accept lists text/html
  bool poll_path = false;          // one of the health URLs the maintenance page polls
};

// A browser navigation (GET or HEAD accepting HTML) gets the page as soon as any backend in
// `required` (the frontend's maintenance_requires) has no usable server. The health URLs never
// do: they report their own backend, or the page could never see the service come back.
template <typename BackendUsable>
bool navigation_needs_maintenance(const NavigationFacts& request, std::span<const std::size_t> required,
                                  BackendUsable&& backend_usable) {
  if (!request.wants_html || request.poll_path) return false;
  if (request.method != http::Method::Get && request.method != http::Method::Head) return false;
  for (const std::size_t backend : required) {
    if (!backend_usable(backend)) return true;
  }
  return false;
}

}  // namespace haven::proxy

#pragma once
// When a request gets the maintenance page because a backend its page needs is gone, whatever
// its own backend's state (behaviour.md, item 6). Pure: the session supplies the facts.
#include <cstddef>
#include <cstdint>
#include <span>

#include <llhttp.h>

namespace haven::proxy {

struct NavigationFacts {
  std::uint8_t method = HTTP_GET;  // llhttp_method_t
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
  if (request.method != HTTP_GET && request.method != HTTP_HEAD) return false;
  for (const std::size_t backend : required) {
    if (!backend_usable(backend)) return true;
  }
  return false;
}

}  // namespace haven::proxy

#pragma once
// What a running haven hands to the binary that replaces it (upgrade in place): its listening
// sockets, and the state a fresh start would not know (each server's health, admin state and
// runtime weight), so the new process serves from its first accept as the old one did.
//
// The exchange, over a unix stream socket in the abstract namespace named after the old process's
// PID (handover_socket_name), between two processes of the same user:
//   new -> old   "haven-upgrade 1\n"
//   old -> new   frames (net/fd_passing): the first carries the JSON below and the first
//                descriptors, the others the rest; or one frame {"refused": "why"}
//   new -> old   "ready\n" once its workers accept, or "failed: why\n" (or it just closes)
// The old process stops accepting and drains only after "ready"; anything else leaves it serving.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace haven::app {

inline constexpr std::string_view kHandoverHello = "haven-upgrade 1";

struct HandedListener {
  enum class Kind : std::uint8_t { Frontend, Admin };
  Kind kind = Kind::Frontend;
  std::string frontend;             // Frontend: the frontend's name
  std::string host;                 // as configured
  std::uint16_t configured_port = 0;  // as configured (0: the OS picked)
  std::uint16_t bound_port = 0;     // what it is bound to
  std::string unix_path;            // Admin on a unix socket
  int fd = -1;                      // the descriptor itself (not in the JSON: it rides beside it)
};

struct HandedServer {
  std::string id;       // backend/server
  std::string address;  // host:port as configured: health carries over only to the same address
  std::string health;   // "UP", "DOWN", "CHECKING"
  std::string admin;    // "ready", "drain", "maint"
  std::optional<int> weight;  // runtime weight; nullopt: the configured one
};

struct Handover {
  long pid = 0;
  std::string version;
  std::vector<HandedListener> listeners;  // in the order of the descriptors
  std::vector<HandedServer> servers;
  // The session ticket keys, current first, each as 160 hex digits (name, AES key, HMAC key):
  // tickets issued before the upgrade resume after it.
  std::vector<std::string> ticket_keys;
};

// "\0haven-upgrade-PID" as a sockaddr_un path (abstract: no file to leave behind), and its length.
std::string handover_socket_name(long pid);

std::string handover_to_json(const Handover& handover);
// Reads what handover_to_json wrote; descriptors are attached by the caller. Returns "" or why not.
std::string handover_from_json(std::string_view text, Handover& handover);

}  // namespace haven::app

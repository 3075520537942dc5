#include "haven/app/handover.hpp"

#include <fmt/format.h>

#include "haven/core/json_document.hpp"
#include "haven/core/json_text.hpp"

namespace haven::app {

std::string handover_socket_name(long pid) {
  std::string name = fmt::format("@haven-upgrade-{}", pid);
  name.front() = '\0';  // the abstract namespace
  return name;
}

std::string handover_to_json(const Handover& handover) {
  std::string out = fmt::format("{{\"pid\":{},\"version\":", handover.pid);
  core::append_json_string(out, handover.version);
  out += ",\"listeners\":[";
  for (std::size_t i = 0; i < handover.listeners.size(); ++i) {
    const HandedListener& listener = handover.listeners[i];
    if (i != 0) out.push_back(',');
    out += listener.kind == HandedListener::Kind::Admin ? "{\"kind\":\"admin\",\"frontend\":" : "{\"kind\":\"frontend\",\"frontend\":";
    core::append_json_string(out, listener.frontend);
    out += ",\"host\":";
    core::append_json_string(out, listener.host);
    out += fmt::format(",\"configured_port\":{},\"bound_port\":{},\"unix_path\":", listener.configured_port,
                       listener.bound_port);
    core::append_json_string(out, listener.unix_path);
    out.push_back('}');
  }
  out += "],\"servers\":[";
  for (std::size_t i = 0; i < handover.servers.size(); ++i) {
    const HandedServer& server = handover.servers[i];
    if (i != 0) out.push_back(',');
    out += "{\"id\":";
    core::append_json_string(out, server.id);
    out += ",\"address\":";
    core::append_json_string(out, server.address);
    out += ",\"health\":";
    core::append_json_string(out, server.health);
    out += ",\"admin\":";
    core::append_json_string(out, server.admin);
    out += server.weight ? fmt::format(",\"weight\":{}}}", *server.weight) : ",\"weight\":null}";
  }
  out += "],\"ticket_keys\":[";
  for (std::size_t i = 0; i < handover.ticket_keys.size(); ++i) {
    if (i != 0) out.push_back(',');
    core::append_json_string(out, handover.ticket_keys[i]);
  }
  out += "]}";
  return out;
}

std::string handover_from_json(std::string_view text, Handover& handover) {
  std::string error;
  const auto document = core::parse_json(text, error);
  if (!document) return "the running haven sent unreadable state: " + error;
  const core::JsonNode& root = *document;
  if (!root["refused"].is_null()) return "the running haven refused: " + root["refused"].text();
  handover.pid = static_cast<long>(root["pid"].number());
  handover.version = root["version"].text();
  const auto port = [](const core::JsonNode& node) {
    const double value = node.number(-1);
    return value >= 0 && value <= 65535 ? static_cast<std::uint16_t>(value) : std::uint16_t{0};
  };
  for (const core::JsonNode& node : root["listeners"].items()) {
    HandedListener listener;
    listener.kind = node["kind"].text() == "admin" ? HandedListener::Kind::Admin : HandedListener::Kind::Frontend;
    listener.frontend = node["frontend"].text();
    listener.host = node["host"].text();
    listener.configured_port = port(node["configured_port"]);
    listener.bound_port = port(node["bound_port"]);
    listener.unix_path = node["unix_path"].text();
    handover.listeners.push_back(std::move(listener));
  }
  for (const core::JsonNode& node : root["servers"].items()) {
    HandedServer server;
    server.id = node["id"].text();
    server.address = node["address"].text();
    server.health = node["health"].text();
    server.admin = node["admin"].text();
    if (!node["weight"].is_null()) {
      const double weight = node["weight"].number(-1);
      if (weight < 0 || weight > 256) return "the running haven sent a weight out of range";
      server.weight = static_cast<int>(weight);
    }
    handover.servers.push_back(std::move(server));
  }
  for (const core::JsonNode& node : root["ticket_keys"].items()) handover.ticket_keys.push_back(node.text());
  return {};
}

}  // namespace haven::app

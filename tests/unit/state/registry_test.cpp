#include "haven/state/registry.hpp"

#include <doctest/doctest.h>

namespace config = haven::config;
using haven::state::AdminState;
using haven::state::BindChanges;
using haven::state::Health;
using haven::state::Registry;

namespace {

config::Server server(std::string name, std::uint16_t port) {
  config::Server s;
  s.name = std::move(name);
  s.address.host = "127.0.0.1";
  s.address.port = port;
  s.address.text = "127.0.0.1:" + std::to_string(port);
  return s;
}

config::Config two_servers(bool checked = true) {
  config::Config c;
  config::Frontend web;
  web.name = "web";
  c.frontends.push_back(web);
  config::Backend api;
  api.name = "api";
  if (checked) api.check = config::Check{};
  api.servers = {server("a", 8001), server("b", 8002)};
  c.backends.push_back(api);
  return c;
}

}  // namespace

TEST_CASE("at start-up every server is UP, READY and at its configured weight") {
  Registry registry(2);
  const auto binding = registry.bind(two_servers(), true);
  REQUIRE(binding.servers.size() == 1);
  REQUIRE(binding.servers[0].size() == 2);
  for (const auto& entry : binding.servers[0]) {
    CHECK(entry->health() == Health::Up);
    CHECK(entry->admin_state() == AdminState::Ready);
    CHECK(entry->effective_weight(7) == 7);
    CHECK(entry->serving());
  }
  CHECK(binding.servers[0][1]->id == "api/b");
  CHECK(registry.find_server("api", "b") == binding.servers[0][1]);
  CHECK(registry.find_server("api", "c") == nullptr);
}

TEST_CASE("an unchanged server keeps its entry, and so its health, admin state, weight and counters") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  auto& a = *first.servers[0][0];
  a.set_health(Health::Down);
  a.set_admin_state(AdminState::Drain);
  a.set_runtime_weight(3);
  (*a.traffic)[0].requests.add(5);
  BindChanges changes;
  const auto second = registry.bind(two_servers(), false, &changes);
  CHECK(second.servers[0][0] == first.servers[0][0]);
  CHECK(second.backends[0] == first.backends[0]);
  CHECK(second.frontends[0] == first.frontends[0]);
  CHECK(changes.added.empty());
  CHECK(changes.changed.empty());
  CHECK(changes.removed.empty());
}

TEST_CASE("a changed address starts health over but keeps admin state, weight and counters") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  auto& a = *first.servers[0][0];
  a.set_admin_state(AdminState::Maint);
  a.set_runtime_weight(0);
  (*a.traffic)[0].requests.add(5);
  auto moved = two_servers();
  moved.backends[0].servers[0].address.port = 9001;
  moved.backends[0].servers[0].address.text = "127.0.0.1:9001";
  BindChanges changes;
  const auto second = registry.bind(moved, false, &changes);
  const auto& now = *second.servers[0][0];
  CHECK(&now != &a);
  CHECK(now.health() == Health::Checking);
  CHECK_FALSE(now.serving());
  CHECK(now.admin_state() == AdminState::Maint);
  CHECK(now.runtime_weight() == 0);
  CHECK(now.traffic == a.traffic);
  CHECK(now.address.port == 9001);
  CHECK(changes.changed == std::vector<std::string>{"api/a"});
  CHECK(second.servers[0][1] == first.servers[0][1]);
}

TEST_CASE("a changed check also starts health over") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  auto changed = two_servers();
  changed.backends[0].check->path = "/healthz";
  const auto second = registry.bind(changed, false);
  CHECK(second.servers[0][0] != first.servers[0][0]);
  CHECK(second.servers[0][0]->health() == Health::Checking);
}

TEST_CASE("init_state = up lets a changed server take traffic at once; so does a backend without checks") {
  Registry registry(1);
  registry.bind(two_servers(), true);
  auto eager = two_servers();
  eager.backends[0].init_checking = false;
  eager.backends[0].servers.push_back(server("c", 8003));
  CHECK(registry.bind(eager, false).servers[0][2]->health() == Health::Up);

  Registry unchecked(1);
  unchecked.bind(two_servers(false), true);
  auto added = two_servers(false);
  added.backends[0].servers.push_back(server("c", 8003));
  CHECK(unchecked.bind(added, false).servers[0][2]->health() == Health::Up);
}

TEST_CASE("added and removed servers are reported, and a removed one leaves the registry") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  auto next = two_servers();
  next.backends[0].servers = {server("b", 8002), server("c", 8003)};
  BindChanges changes;
  const auto second = registry.bind(next, false, &changes);
  CHECK(changes.added == std::vector<std::string>{"api/c"});
  CHECK(changes.removed == std::vector<std::string>{"api/a"});
  CHECK(registry.find_server("api", "a") == nullptr);
  CHECK(second.servers[0][0] == first.servers[0][1]);  // b, now first in order
  CHECK(second.servers[0][1]->health() == Health::Checking);
  // The old snapshot still holds a's entry: requests in flight on it stay valid.
  CHECK(first.servers[0][0]->id == "api/a");
}

TEST_CASE("a server re-added after a removal starts afresh") {
  Registry registry(1);
  auto first = registry.bind(two_servers(), true);
  first.servers[0][0]->set_admin_state(AdminState::Drain);
  auto without = two_servers();
  without.backends[0].servers.pop_back();
  without.backends[0].servers.erase(without.backends[0].servers.begin());
  without.backends[0].servers.push_back(server("b", 8002));
  registry.bind(without, false);
  const auto again = registry.bind(two_servers(), false);
  CHECK(again.servers[0][0]->admin_state() == AdminState::Ready);
}

TEST_CASE("how often or how patiently a server is checked, or how its address is spelled, keeps its state") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  first.servers[0][0]->set_health(Health::Down);
  auto retimed = two_servers();
  retimed.backends[0].check->interval = std::chrono::milliseconds(500);
  retimed.backends[0].check->timeout = std::chrono::milliseconds(100);
  retimed.backends[0].check->rise = 5;
  retimed.backends[0].check->fall = 1;
  retimed.backends[0].servers[0].address.text = "localhost:8001";  // resolved to the same endpoint
  BindChanges changes;
  const auto second = registry.bind(retimed, false, &changes);
  CHECK(second.servers[0][0] == first.servers[0][0]);
  CHECK(second.servers[0][0]->health() == Health::Down);
  CHECK(changes.changed.empty());
  auto probed_elsewhere = retimed;
  probed_elsewhere.backends[0].check->expect_status = {{200, 200}};
  CHECK(registry.bind(probed_elsewhere, false).servers[0][0] != first.servers[0][0]);
}

TEST_CASE("entries a reload removes or replaces are retired: their connections are not pooled again") {
  Registry registry(1);
  const auto first = registry.bind(two_servers(), true);
  auto next = two_servers();
  next.backends[0].servers[0].address.port = 9001;
  next.backends[0].servers.pop_back();
  registry.bind(next, false);
  CHECK(first.servers[0][0]->retired());  // replaced (new address)
  CHECK(first.servers[0][1]->retired());  // removed
  const auto kept = registry.bind(next, false);
  CHECK_FALSE(kept.servers[0][0]->retired());
}

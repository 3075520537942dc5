#pragma once
// Whether this haven should hold a floating address (keepalived's vrrp_script, an NLB or Route 53
// health check, a Kubernetes probe): GET /health on the admin listener, and `haven ctl health`,
// which also connects to every frontend's listener. Cheap: no counters summed, no history.
#include <cstdint>
#include <string>
#include <vector>

#include "haven/admin/inventory.hpp"

namespace haven::admin {

struct FrontendHealth {
  std::string name;
  std::string host;  // where to connect to check it accepts (0.0.0.0 and :: as loopback)
  std::uint16_t port = 0;
  int backends = 0;          // the backends it routes to
  int serving_backends = 0;  // ...with a server that may take a request now
};

struct HealthReport {
  bool healthy = true;
  bool needs_serving = true;  // [admin] healthy_when = "serving"
  std::vector<FrontendHealth> frontends;
  std::vector<std::string> problems;  // why not healthy, in words
};

HealthReport health_report(const Inventory& inventory, bool needs_serving);
// {"healthy": true, "rule": "serving", "frontends": [...], "problems": [...]}
std::string render_health_json(const HealthReport& report);

}  // namespace haven::admin

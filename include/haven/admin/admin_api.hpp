#pragma once
// The admin listener's requests and answers, apart from sockets: who may do what (bearer token,
// CSRF and DNS-rebinding rules), the routes, and the runtime changes they make. Every answer is
// JSON except /metrics and the stats page. docs/admin-api.md describes the API.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "haven/admin/history.hpp"
#include "haven/admin/inventory.hpp"
#include "haven/admin/stats.hpp"
#include "haven/config/config.hpp"
#include "haven/http/method.hpp"
#include "haven/log/event_log.hpp"

namespace haven::admin {

struct AdminRequest {
  http::Method method = http::Method::Get;
  std::string target;         // path and query as sent
  std::string host;           // Host header ("" when absent)
  std::string origin;         // Origin header ("" when absent)
  std::string fetch_site;     // Sec-Fetch-Site header
  std::string authorization;  // Authorization header
  std::string body;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;  // Allow header of a 405
};

struct ReloadResult {
  bool ok = false;
  std::string message;  // the summary, or why the configuration was refused (file:line:col: ...)
};

// What the admin side needs from the running process (the app implements it).
class Operator {
 public:
  virtual ~Operator() = default;
  // The configuration in force as the admin side sees it.
  virtual Inventory inventory() = 0;
  virtual ProcessStats process() = 0;
  virtual const History& history() = 0;
  // A server's admin state or weight was changed: workers drop idle connections it may no longer
  // use. Called after the registry entry changed.
  virtual void server_admin_changed() = 0;
  // Reads the configuration file again and puts it in force, or keeps the running one.
  virtual ReloadResult reload(std::string_view source) = 0;
  // Traffic shifts (ShiftDriver). Each returns "" or why it was refused.
  virtual std::string start_shift(std::string_view backend, state::ShiftPlan plan, std::string_view who) = 0;
  virtual std::string shift_command(std::string_view backend, std::string_view action, std::string_view who) = 0;
  // "" when changes are taken now, else why not (an upgrade in place is handing the state over:
  // a change now would be lost with this process). Answered 503.
  virtual std::string writes_refused() { return {}; }
};

class AdminApi {
 public:
  AdminApi(const config::Admin& settings, Operator& process, log::EventLog& events);

  AdminResponse handle(const AdminRequest& request);

 private:
  AdminResponse route(const AdminRequest& request, std::string_view path);
  AdminResponse patch_server(const AdminRequest& request, std::string_view backend, std::string_view server);
  AdminResponse shift(const AdminRequest& request, const BackendStats& backend, std::string_view action);
  AdminResponse post_event(const AdminRequest& request);
  [[nodiscard]] bool token_matches(std::string_view authorization) const;
  [[nodiscard]] bool host_is_local(std::string_view host) const;

  config::Admin settings_;
  Operator& process_;
  log::EventLog& events_;
  // Notes written in the current second: a runaway script must not fill the event log's disk.
  std::int64_t notes_second_ = 0;
  int notes_in_second_ = 0;
};

// {"error": message, "status": status}
AdminResponse json_error(int status, std::string_view message);

}  // namespace haven::admin

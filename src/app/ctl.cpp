#include "haven/app/ctl.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "haven/app/admin_client.hpp"
#include "haven/core/json_document.hpp"
#include "haven/core/json_text.hpp"

namespace haven::app {

namespace {

const char* kUsage =
    "Usage: haven ctl [--admin URL] COMMAND\n"
    "  status                      backends and servers at a glance\n"
    "  servers [BACKEND]           one line per server: BACKEND/SERVER HEALTH ADMIN WEIGHT\n"
    "  drain BACKEND/SERVER        no new requests; those in flight finish\n"
    "  maint BACKEND/SERVER        no traffic and no checks\n"
    "  ready BACKEND/SERVER        back in service (checked first after maint)\n"
    "  weight BACKEND/SERVER N     runtime weight 0..256, or \"default\" for the configured one\n"
    "  reload                      re-read the configuration file\n"
    "  events [--follow]           the last events (state changes, reloads...), then new ones\n"
    "  note FROM MESSAGE           writes MESSAGE in haven's event log as a \"note\" from FROM\n"
    "                              (keepalived's notify hooks, deploy scripts)\n"
    "  shift BACKEND --from GROUP --to GROUP [--steps 10,25,50,100] [--hold 60s]\n"
    "        [--min-requests 100] [--max-error-rate 1%] [--max-p99 500ms]\n"
    "        [--max-error-rate-delta 0.5%] [--failure-limit 1]\n"
    "                              move traffic between server groups, step by step, each step\n"
    "                              passed only on good numbers; rolled back on bad ones\n"
    "  shift BACKEND status|pause|resume|abort|clear\n"
    "  health                      exit 0 when haven runs, its listeners accept and (with\n"
    "                              [admin] healthy_when = \"serving\") every frontend has a backend\n"
    "                              with a usable server; 1 when not (for keepalived's vrrp_script)\n"
    "\n"
    "--admin URL (or HAVEN_ADMIN): the admin listener, default http://127.0.0.1:9000;\n"
    "unix:PATH for one on a unix socket.\n"
    "--peers URL,URL,...: the same command on each of several havens (an HA pair), one after the\n"
    "other, each one's output under its URL; the exit status is the worst of them, so a peer that\n"
    "refused or did not answer is never silent.\n"
    "HAVEN_ADMIN_TOKEN: the bearer token, when [admin] has one.\n"
    "Exit status: 0 done, 1 refused by haven, 2 bad usage, 3 no admin listener answered.\n";

struct Colours {
  bool on = false;
  [[nodiscard]] std::string paint(std::string_view text, std::string_view word) const {
    if (!on) return std::string(text);
    const char* code = "0";
    if (word == "UP" || word == "READY" || word == "primary") code = "32";
    else if (word == "DOWN" || word == "MAINT" || word == "maintenance") code = "31";
    else if (word == "CHECKING" || word == "DRAIN" || word == "backup") code = "33";
    return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
  }
};

class Ctl {
 public:
  Ctl(AdminUrl url, std::string token) : url_(std::move(url)), token_(std::move(token)) {
    const char* term = std::getenv("TERM");
    colours_.on = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr &&
                  (term == nullptr || std::string_view(term) != "dumb");
  }

  int run(const std::vector<std::string>& args) {
    const std::string& command = args[0];
    if (command == "status" && args.size() == 1) return status();
    if (command == "servers" && args.size() <= 2) return servers(args.size() == 2 ? args[1] : "");
    if ((command == "drain" || command == "maint" || command == "ready") && args.size() == 2) {
      return patch(args[1], fmt::format("{{\"state\":\"{}\"}}", command));
    }
    if (command == "weight" && args.size() == 3) {
      if (args[2] == "default") return patch(args[1], "{\"weight\":null}");
      if (args[2].empty() || args[2].size() > 3 || args[2].find_first_not_of("0123456789") != std::string::npos) {
        return usage(fmt::format("weight must be 0 to 256 or \"default\", not \"{}\"", args[2]));
      }
      return patch(args[1], fmt::format("{{\"weight\":{}}}", args[2]));
    }
    if (command == "reload" && args.size() == 1) return reload();
    if (command == "shift" && args.size() >= 2) return shift(args);
    if (command == "health" && args.size() == 1) return health();
    if (command == "note" && args.size() == 3) return note(args[1], args[2]);
    if (command == "events" && (args.size() == 1 || (args.size() == 2 && args[1] == "--follow"))) {
      return events(args.size() == 2);
    }
    return usage(fmt::format("unknown command or wrong arguments: {}", fmt::join(args, " ")));
  }

  static int usage(const std::string& problem) {
    if (!problem.empty()) std::fprintf(stderr, "haven ctl: %s\n\n", problem.c_str());
    std::fputs(kUsage, stderr);
    return kCtlUsage;
  }

 private:
  // Sends a request; prints why and returns the exit status when it did not give a 2xx.
  int call(std::string_view method, std::string_view path, std::string_view body, core::JsonNode& out) {
    HttpAnswer answer;
    std::string error;
    if (!admin_request(url_, method, path, token_, body, answer, error)) {
      std::fprintf(stderr, "haven ctl: %s\n", error.c_str());
      return kCtlUnreachable;
    }
    std::string parse_error;
    auto document = core::parse_json(answer.body, parse_error);
    if (!document) {
      std::fprintf(stderr, "haven ctl: the admin listener answered %d without JSON (%s)\n", answer.status,
                   parse_error.c_str());
      return kCtlRefused;
    }
    out = std::move(*document);
    if (answer.status / 100 != 2) {
      const std::string why = out["error"].text(fmt::format("status {}", answer.status));
      std::fprintf(stderr, "haven ctl: %s\n", why.c_str());
      return kCtlRefused;
    }
    return kCtlDone;
  }

  int note(const std::string& from, const std::string& message) {
    std::string body = "{\"from\":";
    core::append_json_string(body, from);
    body += ",\"message\":";
    core::append_json_string(body, message);
    body += "}";
    core::JsonNode answer;
    return call("POST", "/api/v1/events", body, answer);
  }

  int status() {
    core::JsonNode stats;
    if (const int rc = call("GET", "/stats.json", "", stats); rc != kCtlDone) return rc;
    const auto& haven = stats["haven"];
    const auto& reloads = haven["config"]["reloads"];
    std::printf("haven %s · pid %.0f · up %.0f s · %s · reloads %.0f ok, %.0f refused\n",
                haven["version"].text().c_str(), haven["pid"].number(), haven["uptime_seconds"].number(),
                haven["config"]["source"].text().c_str(), reloads["succeeded"].number(), reloads["failed"].number());
    if (!reloads["last_error"].is_null()) {
      std::printf("%s\n", colours_.paint("last reload refused: " + reloads["last_error"].text(), "DOWN").c_str());
    }
    for (const auto& frontend : stats["frontends"].items()) {
      std::printf("frontend %s on %s · %.0f connections · %.1f req/s\n", frontend["name"].text().c_str(),
                  frontend["bind"].text().c_str(), frontend["connections"]["active"].number(),
                  frontend["requests_per_second"].number());
    }
    std::printf("\n%-16s %-12s %-20s %-7s %-9s %-6s %6s %6s %8s  %s\n", "BACKEND", "MODE", "SERVER", "TIER", "HEALTH",
                "ADMIN", "WEIGHT", "ACTIVE", "REQ/S", "LAST CHECK");
    for (const auto& backend : stats["backends"].items()) {
      bool first = true;
      const std::string mode = backend["mode"].text();
      for (const auto& server : backend["servers"].items()) {
        const std::string health = server["health"]["state"].text();
        const std::string admin = server["admin"]["state"].text();
        const auto& check = server["last_check"];
        const std::string last = check.is_null() ? (server["health"]["checked"].boolean() ? "not yet" : "not checked")
                                                 : fmt::format("{} · {} · {:.0f} ms", check["ok"].boolean() ? "ok" : "failed",
                                                               check["reason"].text(), check["duration_ms"].number());
        std::printf("%-16s %s %-20s %-7s %s %s %6.0f %6.0f %8.1f  %s\n",
                    first ? backend["name"].text().c_str() : "",
                    first ? colours_.paint(fmt::format("{:<12}", mode), mode).c_str() : fmt::format("{:<12}", "").c_str(),
                    server["name"].text().c_str(), server["tier"].text().c_str(),
                    colours_.paint(fmt::format("{:<9}", health), health).c_str(),
                    colours_.paint(fmt::format("{:<6}", admin), admin).c_str(), server["weight"]["effective"].number(),
                    server["connections"]["active"].number(), server["requests_per_second"].number(), last.c_str());
        first = false;
      }
    }
    return kCtlDone;
  }

  int servers(const std::string& only) {
    core::JsonNode listing;
    const std::string path = only.empty() ? "/api/v1/backends" : "/api/v1/backends/" + only;
    if (const int rc = call("GET", path, "", listing); rc != kCtlDone) return rc;
    std::vector<const core::JsonNode*> backends;
    if (only.empty()) {
      for (const auto& backend : listing["backends"].items()) backends.push_back(&backend);
    } else {
      backends.push_back(&listing);
    }
    for (const core::JsonNode* backend : backends) {
      for (const auto& server : (*backend)["servers"].items()) {
        std::printf("%s/%s %s %s %.0f\n", (*backend)["name"].text().c_str(), server["name"].text().c_str(),
                    server["health"]["state"].text().c_str(), server["admin"]["state"].text().c_str(),
                    server["weight"]["effective"].number());
      }
    }
    return kCtlDone;
  }

  int patch(const std::string& target, const std::string& body) {
    const std::size_t slash = target.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == target.size() ||
        target.find('/', slash + 1) != std::string::npos) {
      return usage(fmt::format("expected BACKEND/SERVER, not \"{}\"", target));
    }
    core::JsonNode server;
    const std::string path =
        fmt::format("/api/v1/backends/{}/servers/{}", target.substr(0, slash), target.substr(slash + 1));
    if (const int rc = call("PATCH", path, body, server); rc != kCtlDone) return rc;
    std::printf("%s %s %s weight %.0f\n", target.c_str(), server["health"]["state"].text().c_str(),
                server["admin"]["state"].text().c_str(), server["weight"]["effective"].number());
    return kCtlDone;
  }

  // The events haven kept (the last 1,000), then, with `follow`, new ones as they come, until
  // interrupted or haven goes away.
  int events(bool follow) {
    std::uint64_t after = 0;
    for (;;) {
      core::JsonNode batch;
      if (const int rc = call("GET", fmt::format("/api/v1/events?after={}", after), "", batch); rc != kCtlDone) {
        return rc;
      }
      for (const auto& event : batch["events"].items()) {
        std::printf("%s %s\n", event["time"].text().c_str(),
                    colours_.paint(event["message"].text(), event_colour(event["kind"].text())).c_str());
      }
      std::fflush(stdout);
      after = static_cast<std::uint64_t>(batch["next_after"].number(static_cast<double>(after)));
      if (!follow) return kCtlDone;
      if (batch["events"].items().empty()) ::usleep(500 * 1000);
    }
  }

  static std::string_view event_colour(const std::string& kind) {
    if (kind == "server_down" || kind == "backend_unavailable" || kind == "reload_refused" || kind == "error") {
      return "DOWN";
    }
    if (kind == "server_up" || kind == "backend_available" || kind == "reload") return "UP";
    if (kind == "server_admin" || kind == "server_weight" || kind == "warning") return "DRAIN";
    return "";
  }

  // `shift BACKEND status|pause|resume|abort`, or `shift BACKEND --from A --to B [options]`.
  int shift(const std::vector<std::string>& args) {
    const std::string& backend = args[1];
    const std::string path = "/api/v1/backends/" + backend + "/shift";
    core::JsonNode answer;
    if (args.size() == 3 && args[2] == "clear") {
      if (const int rc = call("POST", path + "/clear", "", answer); rc != kCtlDone) return rc;
      std::printf("%s: shift cleared; configured weights apply again\n", backend.c_str());
      return kCtlDone;
    }
    if (args.size() == 3 && (args[2] == "pause" || args[2] == "resume" || args[2] == "abort")) {
      if (const int rc = call("POST", path + "/" + args[2], "", answer); rc != kCtlDone) return rc;
      return print_shift(backend, answer);
    }
    if (args.size() == 2 || (args.size() == 3 && args[2] == "status")) {
      if (const int rc = call("GET", path, "", answer); rc != kCtlDone) return rc;
      return print_shift(backend, answer);
    }
    // Options, as the API's members (strings, and whole numbers for the counts).
    static constexpr std::string_view kStrings[] = {"from", "to", "steps", "hold", "max-error-rate", "max-p99",
                                                    "max-error-rate-delta"};
    static constexpr std::string_view kCounts[] = {"min-requests", "failure-limit"};
    std::string body = "{";
    for (std::size_t i = 2; i < args.size(); ++i) {
      std::string_view option = args[i];
      std::string value;
      if (!option.starts_with("--")) return usage(fmt::format("expected an option such as --from, not \"{}\"", option));
      option.remove_prefix(2);
      if (const auto eq = option.find('='); eq != std::string_view::npos) {
        value = std::string(option.substr(eq + 1));
        option = option.substr(0, eq);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return usage(fmt::format("--{} needs a value", option));
      }
      const bool is_string = std::find(std::begin(kStrings), std::end(kStrings), option) != std::end(kStrings);
      const bool is_count = std::find(std::begin(kCounts), std::end(kCounts), option) != std::end(kCounts);
      if (!is_string && !is_count) return usage(fmt::format("unknown shift option --{}", option));
      std::string key(option);
      for (char& c : key) c = c == '-' ? '_' : c;
      if (body.size() > 1) body += ',';
      core::append_json_string(body, key);
      body += ':';
      if (is_count) {
        if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos) {
          return usage(fmt::format("--{} must be a whole number, not \"{}\"", option, value));
        }
        body += value;
      } else {
        core::append_json_string(body, value);
      }
    }
    body += '}';
    if (const int rc = call("POST", path, body, answer); rc != kCtlDone) return rc;
    return print_shift(backend, answer);
  }

  int print_shift(const std::string& backend, const core::JsonNode& shift) {
    const std::string state = shift["state"].text();
    std::printf("%s: shift %s -> %s %s, %.0f%% on %s (step %.0f of %zu)", backend.c_str(), shift["from"].text().c_str(),
                shift["to"].text().c_str(), state.c_str(), shift["share"].number(), shift["to"].text().c_str(),
                shift["step"].number() + 1, shift["steps"].items().size());
    if (state == "running") std::printf(", window ends in %.0f s", shift["window_ends_in_ms"].number() / 1000);
    std::printf("\n");
    for (const auto& window : shift["windows"].items()) {
      std::printf("  %s  %3.0f%%  %-4s  %s\n", window["at"].text().c_str(), window["share"].number(),
                  window["verdict"].text().c_str(), window["why"].text().c_str());
    }
    return kCtlDone;
  }

  // One line, and the exit status a tracking script wants: 0 healthy, 1 not, 3 no answer.
  int health() {
    HttpAnswer answer;
    std::string error;
    if (!admin_request(url_, "GET", "/health", token_, "", answer, error, std::chrono::milliseconds(2000))) {
      std::printf("unhealthy: %s\n", error.c_str());
      return kCtlUnreachable;
    }
    std::string parse_error;
    auto report = core::parse_json(answer.body, parse_error);
    if (!report || (answer.status != 200 && answer.status != 503)) {
      std::printf("unhealthy: the admin listener answered %d\n", answer.status);
      return kCtlRefused;
    }
    std::vector<std::string> problems;
    for (const auto& problem : (*report)["problems"].items()) problems.push_back(problem.text());
    // Each listener must take a connection: a process that runs but cannot accept is not healthy.
    int frontends = 0;
    for (const auto& frontend : (*report)["frontends"].items()) {
      ++frontends;
      const std::string host = frontend["host"].text();
      const auto port = static_cast<int>(frontend["port"].number());
      if (const std::string why = tcp_accepts(host, port, std::chrono::milliseconds(1000)); !why.empty()) {
        problems.push_back(fmt::format("frontend {} on {}:{} does not accept: {}", frontend["name"].text(), host, port, why));
      }
    }
    if (problems.empty() && (*report)["healthy"].boolean()) {
      std::printf("healthy: %d frontend%s accepting (%s)\n", frontends, frontends == 1 ? "" : "s",
                  (*report)["rule"].text().c_str());
      return kCtlDone;
    }
    std::printf("unhealthy: %s\n", fmt::format("{}", fmt::join(problems, "; ")).c_str());
    return kCtlRefused;
  }

  int reload() {
    core::JsonNode result;
    if (const int rc = call("POST", "/api/v1/reload", "", result); rc != kCtlDone) return rc;
    std::printf("%s\n", result["message"].text().c_str());
    return kCtlDone;
  }

  AdminUrl url_;
  std::string token_;
  Colours colours_;
};

}  // namespace

int ctl_main(int argc, char** argv) {
  std::string admin = std::getenv("HAVEN_ADMIN") != nullptr ? std::getenv("HAVEN_ADMIN") : "http://127.0.0.1:9000";
  std::vector<std::string> peers;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return kCtlDone;
    }
    if (arg == "--admin") {
      if (i + 1 >= argc) return Ctl::usage("--admin needs a URL");
      admin = argv[++i];
      continue;
    }
    if (arg.starts_with("--admin=")) {
      admin = std::string(arg.substr(8));
      continue;
    }
    if ((arg == "--peers" || arg.starts_with("--peers=")) && args.empty()) {
      std::string list;
      if (arg == "--peers") {
        if (i + 1 >= argc) return Ctl::usage("--peers needs a list of admin URLs");
        list = argv[++i];
      } else {
        list = std::string(arg.substr(8));
      }
      for (std::size_t start = 0; start <= list.size();) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start) peers.push_back(list.substr(start, comma - start));
        start = comma + 1;
      }
      if (peers.empty()) return Ctl::usage("--peers needs a list of admin URLs");
      continue;
    }
    if (arg.starts_with("-") && args.empty()) return Ctl::usage(fmt::format("unknown option {}", arg));
    args.emplace_back(arg);
  }
  if (args.empty()) return Ctl::usage("no command given");
  const char* token = std::getenv("HAVEN_ADMIN_TOKEN");
  if (peers.empty()) peers.push_back(admin);
  std::vector<AdminUrl> urls;
  for (const auto& peer : peers) {
    AdminUrl url;
    std::string error;
    if (!parse_admin_url(peer, url, error)) return Ctl::usage(error);
    urls.push_back(std::move(url));
  }
  if (urls.size() == 1) {
    Ctl ctl(urls[0], token != nullptr ? token : "");
    return ctl.run(args);
  }
  if (args[0] == "events" && args.size() == 2) return Ctl::usage("events --follow takes one haven, not --peers");
  // Every peer gets the command even when one fails: an operator must see each one's state, and
  // learn (exit status) that the pair is not alike.
  int worst = kCtlDone;
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::printf("== %s\n", peers[i].c_str());
    std::fflush(stdout);
    Ctl ctl(urls[i], token != nullptr ? token : "");
    const int rc = ctl.run(args);
    std::fflush(stdout);
    if (rc != kCtlDone) {
      failed.push_back(peers[i]);
      worst = std::max(worst, rc);
    }
  }
  if (!failed.empty()) {
    std::fprintf(stderr, "haven ctl: %zu of %zu peers did not do it (%s): the peers are not alike now\n",
                 failed.size(), urls.size(), fmt::format("{}", fmt::join(failed, ", ")).c_str());
  }
  return worst;
}

}  // namespace haven::app

#include "haven/app/main.hpp"

#include <csignal>
#include <ctime>
#include <map>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haven/admin/admin_api.hpp"
#include "haven/admin/admin_server.hpp"
#include "haven/admin/health.hpp"
#include "haven/admin/health_file.hpp"
#include "haven/admin/history.hpp"
#include "haven/admin/shift_driver.hpp"
#include "haven/admin/state_file.hpp"
#include "haven/admin/stats.hpp"
#include "haven/app/check_summary.hpp"
#include "haven/app/ctl.hpp"
#include "haven/app/fd_limit.hpp"
#include "haven/app/handover.hpp"
#include "haven/app/inherited_sockets.hpp"
#include "haven/app/pid_file.hpp"
#include "haven/app/service_notify.hpp"
#include "haven/app/takeover.hpp"
#include "haven/app/upgrade_command.hpp"
#include "haven/app/upgrade_listener.hpp"
#include "haven/app/options.hpp"
#include "haven/config/loader.hpp"
#include "haven/fallback/maintenance.hpp"
#include "haven/health/checker.hpp"
#include "haven/log/event_log.hpp"
#include "haven/net/async.hpp"
#include "haven/net/listener.hpp"
#include "haven/net/loop.hpp"
#include "haven/net/socket_address.hpp"
#include "haven/net/timer.hpp"
#include "haven/proxy/snapshot.hpp"
#include "haven/proxy/tls_contexts.hpp"
#include "haven/proxy/worker.hpp"
#include "haven/state/registry.hpp"
#include "haven/upstream/backend_mode.hpp"

namespace haven::app {

namespace {

// Owns the main thread's loop: health checks, the admin listener, signals in, shutdown requests
// out to the workers.
class Supervisor final : private net::HandleOwner, private admin::Operator, private UpgradeSource {
 public:
  Supervisor(std::vector<std::unique_ptr<proxy::Worker>>& workers, std::shared_ptr<const proxy::Snapshot> snapshot,
             std::vector<std::uint16_t> ports, log::EventLog& events, std::string version, state::Registry& registry,
             std::string config_path, std::shared_ptr<tls::TicketKeys> ticket_keys, UpgradeCommand upgrade_command)
      : workers_(workers),
        ticket_keys_(std::move(ticket_keys)),
        events_(events),
        registry_(registry),
        config_path_(std::move(config_path)),
        snapshot_(std::move(snapshot)),
        startup_config_(snapshot_->config),
        ports_(std::move(ports)),
        version_(std::move(version)),
        started_ms_(state::wall_clock_ms()),
        checker_(loop_, events,
                 [this] {
                   for (auto& worker : workers_) worker->notify_server_trouble();
                 }),
        terminate_(loop_, &Supervisor::on_signal, this),
        interrupt_(loop_, &Supervisor::on_signal, this),
        hangup_(loop_, &Supervisor::on_hangup, this),
        workers_stopped_signal_(loop_, &Supervisor::on_worker_stopped, this),
        history_timer_(loop_, &Supervisor::on_history_due, this),
        shift_timer_(loop_, &Supervisor::on_shift_due, this),
        shifts_(events),
        tls_timer_(loop_, &Supervisor::on_tls_due, this),
        health_file_timer_(loop_, &Supervisor::on_health_file_due, this),
        upgrade_signal_(loop_, &Supervisor::on_upgrade_signal, this),
        child_signal_(loop_, &Supervisor::on_child_exit, this),
        upgrade_listener_(loop_, static_cast<UpgradeSource&>(*this)),
        upgrade_command_(std::move(upgrade_command)) {
    terminate_.start(SIGTERM);
    interrupt_.start(SIGINT);
    hangup_.start(SIGHUP);
    upgrade_signal_.start(SIGUSR2);
    child_signal_.start(SIGCHLD);
    for (auto& worker : workers_) worker->set_checker(&checker_);
    reloads_.last_success_ms = started_ms_;
  }

  // Opens the admin listener when the config has one. Returns "" or why it could not.
  std::string open_admin() {
    admin_settings_ = snapshot_->config->admin;
    const config::Admin& settings = admin_settings_;
    if (!settings.enabled) return {};
    if (!settings.state_file.empty()) {
      for (const std::string& warning : admin::load_state_file(settings.state_file, inventory())) {
        events_.write("warning", warning);
      }
    }
    create_admin_server();
    if (std::string error = admin_server_->open(settings); !error.empty()) return error;
    announce_admin("");
    return {};
  }

  // Listens for a new binary that would take over (upgrade in place). A haven that cannot is
  // still a haven: the operator is told, and a restart is the way to upgrade it.
  void open_upgrade() {
    if (std::string error = upgrade_listener_.open(); !error.empty()) {
      events_.write("warning", fmt::format("upgrade in place unavailable: {}", error));
    }
  }

  // The admin API and its listener, not yet listening (admin_settings_ set).
  void create_admin_server() {
    admin_api_ = std::make_unique<admin::AdminApi>(admin_settings_, static_cast<admin::Operator&>(*this), events_);
    admin_server_ = std::make_unique<admin::AdminServer>(loop_, *admin_api_);
  }

  // Says where the admin listener listens (`how`: how it came to, when it is worth saying).
  void announce_admin(std::string_view how) {
    const config::Admin& settings = admin_settings_;
    const std::string suffix = fmt::format("{}{}", settings.token.empty() ? "" : "; writes need the token", how);
    if (!settings.unix_path.empty()) {
      events_.write("admin_listening",
                    fmt::format("admin listening on unix:{} (haven ctl --admin unix:{}){}", settings.unix_path,
                                settings.unix_path, suffix),
                    {{"address", "unix:" + settings.unix_path}});
      return;
    }
    const std::string host = settings.bind.is_ipv6 ? "[" + settings.bind.host + "]" : settings.bind.host;
    const std::string address = fmt::format("{}:{}", host, admin_server_->port());
    events_.write("admin_listening", fmt::format("admin listening on {} (stats page: http://{}/){}", address, address, suffix),
                  {{"address", address}});
  }

  // Whether this process handed its sockets to a new binary (which owns the pid file now).
  [[nodiscard]] bool handed_over() const { return handed_over_; }

  // Start-up did not complete after the workers started (the old process did not confirm an
  // upgrade): what was accepted is finished, and the process goes.
  void stop_serving(const std::string& why) {
    events_.write("shutdown", fmt::format("{}: this process stops and finishes what it accepted", why));
    shut_down();
  }

  // Accepts on a listening admin socket that the replaced process handed over.
  void adopt_admin_socket(int fd, const std::string& unix_path) {
    admin_settings_ = snapshot_->config->admin;
    create_admin_server();
    admin_server_->adopt(fd, unix_path);
    announce_admin("; taken over from the replaced process");
  }

  // For worker threads: tell the supervisor this worker has finished. The count and the send are
  // one step under the lock: once the supervisor has seen every worker stop it closes the async,
  // and a send to a closed async would abort the process.
  void worker_stopped() {
    const std::lock_guard lock(stopped_mutex_);
    ++stopped_workers_;
    if (!stopped_signal_closed_) workers_stopped_signal_.send();
  }

  // Runs until a signal asked for shutdown and every handle of this loop is closed.
  // A supervisor whose loop never ran (start-up failed) still closes what it opened, and lets
  // libuv let go of it, before its memory goes.
  ~Supervisor() {
    if (ran_) return;
    checker_.stop();
    if (admin_server_) admin_server_->close();
    upgrade_listener_.close();
    upgrade_signal_.close(this);
    child_signal_.close(this);
    history_timer_.close(this);
    shift_timer_.close(this);
    tls_timer_.close(this);
    health_file_timer_.close(this);
    terminate_.close(this);
    interrupt_.close(this);
    hangup_.close(this);
    workers_stopped_signal_.close(this);
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGUSR2, SIG_IGN);
    loop_.run();
    loop_.close();
  }

  void run() {
    ran_ = true;
    checker_.bind(snapshot_->backends);
    history_timer_.start(core::Duration(admin::History::kIntervalMs), core::Duration(admin::History::kIntervalMs));
    on_history_due(this);
    shift_timer_.start(kShiftDuty, kShiftDuty);
    tls_timer_.start(kTlsDuty, kTlsDuty);
    warn_expiring_certificates();
    // A process that stops before it ran (an upgrade the old process did not confirm) says nothing
    // in the file the old one keeps.
    if (admin_settings_.enabled && !admin_settings_.health_file.empty() && !shutting_down_) {
      health_file_ = std::make_unique<admin::HealthFile>(admin_settings_.health_file);
      on_health_file_due(this);
      health_file_timer_.start(kHealthFileDuty, kHealthFileDuty);
    }
    loop_.run();
    loop_.close();
  }

 private:
  // --- admin::Operator
  admin::Inventory inventory() override {
    admin::Inventory inventory;
    inventory.owner = snapshot_;
    inventory.config = snapshot_->config.get();
    for (const auto& backend : snapshot_->backends) inventory.backends.push_back(backend.get());
    inventory.frontends = snapshot_->frontends;
    inventory.frontend_ports = ports_;
    for (const auto& backend : snapshot_->backends) {
      inventory.shifts.push_back(shifts_.view(backend->config.name, loop_.now_ms()));
    }
    for (const auto& context : snapshot_->tls.frontends) {
      inventory.frontend_certificates.push_back(context != nullptr ? context->certificates()
                                                                   : std::vector<tls::CertificateInfo>{});
    }
    return inventory;
  }
  admin::ProcessStats process() override {
    admin::ProcessStats stats;
    stats.version = version_;
    stats.pid = static_cast<long>(::getpid());
    stats.workers = static_cast<int>(workers_.size());
    stats.started_ms = started_ms_;
    stats.now_ms = state::wall_clock_ms();
    stats.config_source = snapshot_->config->source;
    stats.reloads = reloads_;
    return stats;
  }
  const admin::History& history() override { return history_; }
  admin::ReloadResult reload(std::string_view source) override {
    try {
      return reload_config(source);
    } catch (const std::exception& error) {
      return refuse_reload(source, error.what());
    }
  }

  // Reads the configuration file again and puts it in force on every worker, or refuses it and
  // keeps the running one. Runs on this loop (SIGHUP, the admin API).
  admin::ReloadResult reload_config(std::string_view source) {
    if (shutting_down_) return {false, "haven is shutting down"};
    if (handing_over_) return refuse_reload(source, "an upgrade in place is handing this haven's state over");
    auto loaded = config::load_config_file(config_path_);
    if (!loaded) return refuse_reload(source, loaded.error().to_string());
    auto config = std::make_shared<const config::Config>(std::move(loaded).value());
    auto maintenance = fallback::MaintenanceResponses::build(*config);
    if (!maintenance) return refuse_reload(source, maintenance.error());
    // Certificate files are read again: a renewed certificate serves new handshakes from here on.
    auto tls_contexts = proxy::TlsContexts::build(*config, ticket_keys_, state::wall_clock_ms());
    if (!tls_contexts) return refuse_reload(source, tls_contexts.error().to_string());

    // What only a restart changes stays as it was at start-up, whatever reloads since said; the
    // operator is told.
    const config::Config& started = *startup_config_;
    std::vector<std::string> kept;
    if (config->global.workers != started.global.workers) kept.push_back("[global] workers");
    if (config->global.max_connections != started.global.max_connections) kept.push_back("[global] max_connections");
    if (config->global.max_connections_per_client != started.global.max_connections_per_client) {
      kept.push_back("[global] max_connections_per_client");
    }
    if (config->log.access != started.log.access || config->log.events != started.log.events ||
        config->log.format != started.log.format) {
      kept.push_back("[log]");
    }
    if (config->admin.enabled != started.admin.enabled || !(config->admin.bind == started.admin.bind) ||
        config->admin.unix_path != started.admin.unix_path ||
        config->admin.token != started.admin.token ||
        config->admin.read_token_required != started.admin.read_token_required ||
        config->admin.state_file != started.admin.state_file) {
      kept.push_back("[admin]");
    }

    const config::Config& running = *snapshot_->config;
    // Sockets for binds no worker listens on yet, made before anything changes: a bind that fails
    // refuses the whole reload. Every worker gets its own socket on the same port (SO_REUSEPORT).
    const auto& frontends = config->frontends;
    std::vector<std::vector<int>> fds(workers_.size(), std::vector<int>(frontends.size(), -1));
    std::vector<std::uint16_t> ports(frontends.size(), 0);
    const auto close_all = [&fds] {
      for (auto& per_worker : fds) {
        for (const int fd : per_worker) {
          if (fd >= 0) ::close(fd);
        }
      }
    };
    // A frontend keeps the listener of the running frontend with its name and bind; failing that,
    // of one with its bind (a rename) unless that bind says port 0 (each such bind is its own port).
    std::vector<int> keep(frontends.size(), -1);
    std::vector<bool> taken(running.frontends.size(), false);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = 0; i < frontends.size(); ++i) {
        for (std::size_t j = 0; j < running.frontends.size() && keep[i] < 0; ++j) {
          if (taken[j] || !running.frontends[j].bind.same_endpoint(frontends[i].bind)) continue;
          if (pass == 0 ? running.frontends[j].name != frontends[i].name : frontends[i].bind.port == 0) continue;
          keep[i] = static_cast<int>(j);
          taken[j] = true;
          ports[i] = ports_[j];
        }
      }
    }
    for (std::size_t i = 0; i < frontends.size(); ++i) {
      if (keep[i] >= 0) continue;
      std::uint16_t port = frontends[i].bind.port;
      for (std::size_t w = 0; w < workers_.size(); ++w) {
        net::SocketAddress address;
        address.assign(frontends[i].bind.host, port);
        std::string error;
        const int fd = net::Listener::bind_socket(address, error);
        if (fd < 0) {
          close_all();
          return refuse_reload(source, fmt::format("{}: frontend {} cannot listen on {}: {}", config_path_,
                                                   frontends[i].name, frontends[i].bind.text, error));
        }
        fds[w][i] = fd;
        if (port == 0) port = bound_port(fd);  // the others share the port the first one got
      }
      ports[i] = port;
    }

    state::BindChanges changes;
    std::shared_ptr<const proxy::Snapshot> snapshot;
    try {
      snapshot = std::make_shared<const proxy::Snapshot>(config, std::move(maintenance).value(),
                                                         registry_.bind(*config, false, &changes),
                                                         std::move(tls_contexts).value());
    } catch (...) {
      close_all();  // out of memory: no socket may stay in the port's group with nobody accepting
      throw;
    }
    for (std::size_t w = 0; w < workers_.size(); ++w) workers_[w]->adopt_snapshot(snapshot, keep, std::move(fds[w]));
    // The checker moves to the new backends before the old snapshot can go.
    checker_.bind(snapshot->backends);
    // A shift in progress gives the new snapshot's servers their weights at once.
    const bool shift_weights_changed = shifts_.tick(snapshot->backends, loop_.now_ms());
    snapshot_ = std::move(snapshot);
    ports_ = std::move(ports);
    if (shift_weights_changed) server_admin_changed();
    reloads_.succeeded += 1;
    reloads_.last_success_ms = state::wall_clock_ms();
    reloads_.last_error.clear();

    std::string summary = fmt::format("configuration reloaded from {} ({}): {} frontends, {} backends", config_path_,
                                      source, frontends.size(), config->backends.size());
    const auto list = [&summary](std::string_view what, const std::vector<std::string>& names) {
      if (!names.empty()) summary += fmt::format("; {} {}", what, fmt::join(names, ", "));
    };
    list("servers added:", changes.added);
    list("servers changed (checked before traffic):", changes.changed);
    list("servers removed:", changes.removed);
    if (!kept.empty()) summary += fmt::format("; {} need a restart and stay as they were", fmt::join(kept, ", "));
    events_.write("reload", summary, {{"source", std::string(source)}, {"result", "success"}});
    return {true, summary};
  }

  admin::ReloadResult refuse_reload(std::string_view source, const std::string& why) {
    reloads_.failed += 1;
    reloads_.last_failure_ms = state::wall_clock_ms();
    reloads_.last_error = why;
    events_.write("reload_refused",
                  fmt::format("configuration reload ({}) refused, still running the previous one: {}", source, why),
                  {{"source", std::string(source)}, {"result", "failure"}, {"error", why}});
    return {false, why};
  }

  static std::uint16_t bound_port(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  void server_admin_changed() override {
    for (const auto& backend : snapshot_->backends) upstream::refresh_status(*backend);
    for (auto& worker : workers_) worker->notify_admin_change();
    // [admin] is not reloadable: the file named at start-up, whatever a reload says.
    const std::string& path = admin_settings_.state_file;
    if (path.empty()) return;
    if (const std::string error = admin::save_state_file(path, inventory()); !error.empty()) {
      events_.write("warning", fmt::format("admin state not saved: {}", error));
    }
  }

  // Session ticket keys rotate, expired sessions leave the caches, and certificates close to
  // expiry are said in the event log (at most once a day each).
  static constexpr core::Duration kTlsDuty{3600 * 1000};
  // How often shift windows are looked at (a window is judged within this of its end).
  static constexpr core::Duration kShiftDuty{250};
  static constexpr std::int64_t kExpiryWarning = 14LL * 24 * 3600 * 1000;

  static void on_tls_due(void* self) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    supervisor.ticket_keys_->rotate();
    for (const auto& context : supervisor.snapshot_->tls.frontends) {
      if (context != nullptr) context->flush_expired_sessions(state::wall_clock_ms());
    }
    supervisor.warn_expiring_certificates();
  }

  void warn_expiring_certificates() {
    const std::int64_t now = state::wall_clock_ms();
    for (std::size_t i = 0; i < snapshot_->tls.frontends.size(); ++i) {
      const auto& context = snapshot_->tls.frontends[i];
      if (context == nullptr) continue;
      for (const tls::CertificateInfo& certificate : context->certificates()) {
        const std::int64_t left = certificate.not_after_ms - now;
        if (left > kExpiryWarning) continue;
        auto& warned = expiry_warned_ms_[certificate.file];
        if (warned != 0 && now - warned < 24LL * 3600 * 1000) continue;
        warned = now;
        events_.write("certificate_expiring",
                      fmt::format("certificate {} ({}) of frontend {} expires in {} days, on {:%Y-%m-%d %H:%M} UTC",
                                  certificate.file, certificate.subject, snapshot_->config->frontends[i].name,
                                  left / (24LL * 3600 * 1000),
                                  fmt::gmtime(static_cast<std::time_t>(certificate.not_after_ms / 1000))),
                      {{"file", certificate.file}, {"frontend", snapshot_->config->frontends[i].name},
                       {"expires_in_s", static_cast<long>(left / 1000)}});
      }
    }
  }

  // Traffic shifts: windows judged, weights applied (and the feed told when they change a mode).
  static void on_shift_due(void* self) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    if (supervisor.shifts_.tick(supervisor.snapshot_->backends, supervisor.loop_.now_ms())) {
      supervisor.server_admin_changed();
    }
  }

  std::string start_shift(std::string_view backend, state::ShiftPlan plan, std::string_view who) override {
    const upstream::Backend* found = find_backend(backend);
    if (found == nullptr) return fmt::format("no backend \"{}\"", backend);
    std::string error = shifts_.start(*found, std::move(plan), loop_.now_ms(), who);
    if (error.empty()) server_admin_changed();
    return error;
  }

  std::string shift_command(std::string_view backend, std::string_view action, std::string_view who) override {
    const upstream::Backend* found = find_backend(backend);
    if (found == nullptr) return fmt::format("no backend \"{}\"", backend);
    std::string error = shifts_.command(*found, action, loop_.now_ms(), who);
    if (error.empty()) server_admin_changed();
    return error;
  }

  const upstream::Backend* find_backend(std::string_view name) const {
    for (const auto& backend : snapshot_->backends) {
      if (backend->config.name == name) return backend.get();
    }
    return nullptr;
  }

  static void on_history_due(void* self) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    admin::sample_history(supervisor.history_, supervisor.inventory(),
                          static_cast<std::int64_t>(supervisor.loop_.now_ms()));
  }

  static void on_signal(void* self, int signal_number) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    const char* name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
    // The watchers stay until the workers are done: closing them would give the signals back their
    // default action, and a second Ctrl-C or SIGTERM would kill the drain half-way.
    if (supervisor.shutting_down_) {
      supervisor.events_.write("shutdown", fmt::format("received {} again: still finishing in-flight requests", name));
      return;
    }
    supervisor.events_.write("shutdown",
                             fmt::format("received {}: no new connections; finishing in-flight requests", name));
    notify_stopping();
    // This node is going: a floating address should move now, not when the listeners are gone.
    if (supervisor.health_file_) supervisor.write_health_file(false, "haven is shutting down");
    supervisor.shut_down();
  }

  // Stops accepting and lets the workers finish what is in flight (timeouts.shutdown).
  void shut_down() {
    shutting_down_ = true;
    for (auto& worker : workers_) worker->request_shutdown();
    // Nothing on this loop may signal a worker from now on: workers close their asyncs as they
    // finish.
    checker_.stop();
    if (admin_server_) admin_server_->close();
    upgrade_listener_.close();
    history_timer_.close(this);
    shift_timer_.close(this);
    tls_timer_.close(this);
    health_file_timer_.close(this);
  }

  // [admin] health_file, for keepalived's track_file: the /health verdict (without the listener
  // test, which needs a connection) within kHealthFileDuty of a change, said in the event log.
  static constexpr core::Duration kHealthFileDuty{100};
  static void on_health_file_due(void* self) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    const admin::HealthReport report =
        admin::health_report(supervisor.inventory(), supervisor.admin_settings_.healthy_needs_serving);
    supervisor.write_health_file(report.healthy, report.problems.empty() ? "" : report.problems.front());
  }
  void write_health_file(bool healthy, const std::string& why) {
    const bool changed = !health_file_verdict_ || *health_file_verdict_ != healthy;
    if (std::string error = health_file_->write(healthy); !error.empty()) {
      if (!health_file_error_) events_.write("warning", error);
      health_file_error_ = true;
      return;
    }
    health_file_error_ = false;
    if (!changed) return;
    health_file_verdict_ = healthy;
    events_.write(healthy ? "healthy" : "unhealthy",
                  healthy ? fmt::format("healthy for a floating address: {} says 0", health_file_->path())
                          : fmt::format("not healthy for a floating address ({}): {} says 1", why, health_file_->path()),
                  {{"file", health_file_->path()}});
  }

  // --- UpgradeSource: this process is being replaced by a new binary.
  std::string upgrade_refusal() override {
    if (shutting_down_) return "this haven is shutting down";
    if (handing_over_) return "another upgrade is under way";
    // As a container's init, this process's exit ends the container, the new binary with it.
    if (::getpid() == 1) {
      return "this haven runs as PID 1 (a container's init): its exit would end the new binary too; run it under "
             "an init such as tini, or replace the container";
    }
    // A shift's weights live in this process only: the new one would start from the configured
    // weights, moving traffic nobody asked to move.
    for (const auto& backend : snapshot_->backends) {
      if (shifts_.view(backend->config.name, loop_.now_ms())) {
        return fmt::format("backend {} has a traffic shift: let it finish and clear it, or abort and clear it "
                           "(haven ctl shift {} abort; haven ctl shift {} clear), then upgrade",
                           backend->config.name, backend->config.name, backend->config.name);
      }
    }
    return {};
  }

  std::string prepare_handover(Handover& handover) override {
    handover.pid = static_cast<long>(::getpid());
    handover.version = version_;
    const auto& frontends = snapshot_->config->frontends;
    for (auto& worker : workers_) {
      // Every worker accepts on a socket of its own for each frontend: all of them go, or none.
      auto sockets = worker->listening_sockets();
      if (sockets.size() < frontends.size()) {
        return fmt::format("worker {} did not hand over its listening sockets", worker->id());
      }
      for (auto& [name, fd] : sockets) {
        std::size_t i = 0;
        while (i < frontends.size() && frontends[i].name != name) ++i;
        if (i == frontends.size()) return fmt::format("worker {} listens for an unknown frontend {}", worker->id(), name);
        HandedListener listener;
        listener.frontend = name;
        listener.host = frontends[i].bind.host;
        listener.configured_port = frontends[i].bind.port;
        listener.bound_port = ports_[i];
        listener.fd = fd;
        handover.listeners.push_back(std::move(listener));
      }
    }
    if (admin_server_ && admin_server_->socket() >= 0) {
      HandedListener listener;
      listener.kind = HandedListener::Kind::Admin;
      listener.host = admin_settings_.bind.host;
      listener.configured_port = admin_settings_.bind.port;
      listener.bound_port = admin_server_->port();
      listener.unix_path = admin_settings_.unix_path;
      listener.fd = admin_server_->socket();
      handover.listeners.push_back(std::move(listener));
    }
    for (const auto& backend : snapshot_->backends) {
      for (const auto& server : backend->servers) {
        const state::ServerRuntime& runtime = server->runtime;
        HandedServer handed;
        handed.id = runtime.id;
        handed.address = server_endpoint(runtime.address);
        handed.health = std::string(state::health_name(runtime.health()));
        handed.admin = std::string(state::admin_state_word(runtime.admin_state()));
        handed.weight = runtime.runtime_weight();
        handover.servers.push_back(std::move(handed));
      }
    }
    for (const tls::TicketKey& key : ticket_keys_->keys()) handover.ticket_keys.push_back(ticket_key_text(key));
    handing_over_ = true;
    events_.write("upgrade", fmt::format("upgrade in place: handing {} listening sockets and the state of {} servers "
                                         "to a new process",
                                         handover.listeners.size(), handover.servers.size()));
    return {};
  }

  void upgrade_done(long pid) override {
    handing_over_ = false;
    events_.write("upgrade",
                  fmt::format("upgrade in place: process {} serves on the listening sockets now; this one ({}) "
                              "accepts no more and finishes in-flight requests",
                              pid, static_cast<long>(::getpid())),
                  {{"pid", pid}});
    // The unix admin socket's path and the pid file are the new process's now.
    if (admin_server_) admin_server_->release_path();
    handed_over_ = true;
    notify_main_process(pid);
    if (!shutting_down_) shut_down();
  }

  void upgrade_failed(const std::string& why) override {
    handing_over_ = false;
    events_.write("upgrade_failed", fmt::format("upgrade in place failed: {}; this haven keeps serving", why),
                  {{"error", why}});
  }

  std::string writes_refused() override {
    return handing_over_ ? "an upgrade in place is handing this haven's state over; try again in a moment" : "";
  }

  // SIGUSR2: start the binary at the path this one was started from, with its options, as
  // --upgrade-from-pid this process. Its outcome arrives over the hand-over socket.
  static void on_upgrade_signal(void* self, int /*signal_number*/) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    if (std::string why = supervisor.upgrade_refusal(); !why.empty()) {
      supervisor.events_.write("upgrade_failed", fmt::format("SIGUSR2: no upgrade in place: {}", why));
      return;
    }
    if (supervisor.upgrade_child_ > 0) {
      supervisor.events_.write("upgrade_failed", "SIGUSR2: a new binary started for an upgrade is still starting");
      return;
    }
    std::string error;
    const long child = spawn_upgrade(supervisor.upgrade_command_, error);
    if (child <= 0) {
      supervisor.events_.write("upgrade_failed", fmt::format("SIGUSR2: cannot start {}: {}; this haven keeps serving",
                                                             supervisor.upgrade_command_.executable, error));
      return;
    }
    supervisor.upgrade_child_ = child;
    supervisor.events_.write("upgrade", fmt::format("SIGUSR2: started {} (process {}) to take over",
                                                    supervisor.upgrade_command_.executable, child),
                             {{"pid", child}});
  }

  // A child started by SIGUSR2 that exits while this process still runs failed to take over (one
  // that took over outlives it). Reaped so it leaves no zombie.
  static void on_child_exit(void* self, int /*signal_number*/) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    if (supervisor.upgrade_child_ <= 0) return;
    int status = 0;
    const pid_t reaped = ::waitpid(static_cast<pid_t>(supervisor.upgrade_child_), &status, WNOHANG);
    if (reaped != static_cast<pid_t>(supervisor.upgrade_child_)) return;
    supervisor.upgrade_child_ = 0;
    if (supervisor.shutting_down_) return;
    supervisor.events_.write(
        "upgrade_failed",
        fmt::format("the new binary started by SIGUSR2 exited ({}) before taking over; this haven keeps serving",
                    WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                                      : fmt::format("signal {}", WTERMSIG(status))));
  }

  // SIGHUP reloads the configuration, as with nginx and HAProxy.
  static void on_hangup(void* self, int /*signal_number*/) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    try {
      supervisor.reload_config("SIGHUP");
    } catch (const std::exception& error) {
      supervisor.refuse_reload("SIGHUP", error.what());
    }
  }

  static void on_worker_stopped(void* self) noexcept {
    auto& supervisor = *static_cast<Supervisor*>(self);
    {
      const std::lock_guard lock(supervisor.stopped_mutex_);
      if (supervisor.stopped_workers_ < static_cast<int>(supervisor.workers_.size())) return;
      supervisor.stopped_signal_closed_ = true;
    }
    supervisor.terminate_.close(&supervisor);
    supervisor.interrupt_.close(&supervisor);
    supervisor.hangup_.close(&supervisor);
    supervisor.upgrade_signal_.close(&supervisor);
    supervisor.child_signal_.close(&supervisor);
    // libuv gives a signal its default action back when its last watcher goes; a hang-up during
    // the rest of the exit must stay harmless.
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGUSR2, SIG_IGN);
    supervisor.workers_stopped_signal_.close(&supervisor);
  }
  void on_handle_closed() override {}

  net::Loop loop_;
  std::vector<std::unique_ptr<proxy::Worker>>& workers_;
  const std::shared_ptr<tls::TicketKeys> ticket_keys_;  // every worker's and every reload's
  log::EventLog& events_;
  state::Registry& registry_;
  const std::string config_path_;
  std::shared_ptr<const proxy::Snapshot> snapshot_;  // the one in force
  const std::shared_ptr<const config::Config> startup_config_;  // what only a restart changes
  std::vector<std::uint16_t> ports_;                 // frontend ports as bound
  std::string version_;
  std::int64_t started_ms_;
  admin::ReloadStats reloads_;
  admin::History history_;
  health::Checker checker_;
  net::Signal terminate_;
  net::Signal interrupt_;
  net::Signal hangup_;
  net::Async workers_stopped_signal_;
  net::Timer history_timer_;
  net::Timer shift_timer_;
  admin::ShiftDriver shifts_;
  net::Timer tls_timer_;
  net::Timer health_file_timer_;
  std::unique_ptr<admin::HealthFile> health_file_;
  std::optional<bool> health_file_verdict_;  // last written
  bool health_file_error_ = false;           // the last write failed (said once)
  std::map<std::string, std::int64_t> expiry_warned_ms_;  // certificate file -> last warning
  std::unique_ptr<admin::AdminApi> admin_api_;
  std::unique_ptr<admin::AdminServer> admin_server_;
  std::mutex stopped_mutex_;
  int stopped_workers_ = 0;            // guarded by stopped_mutex_
  bool stopped_signal_closed_ = false;  // guarded by stopped_mutex_
  net::Signal upgrade_signal_;  // SIGUSR2
  net::Signal child_signal_;    // SIGCHLD: the binary SIGUSR2 started
  UpgradeListener upgrade_listener_;
  const UpgradeCommand upgrade_command_;
  long upgrade_child_ = 0;     // started by SIGUSR2 and not yet reaped
  bool handing_over_ = false;  // between prepare_handover and its outcome
  bool handed_over_ = false;   // a new binary took the sockets over
  bool shutting_down_ = false;
  bool ran_ = false;
  config::Admin admin_settings_;  // as loaded at start-up ([admin] is not reloadable)
};

// Runs haven until it has stopped. With `takeover`, this process replaces a running haven:
// `inherited` holds its sockets and state, and the old one is told whether this one serves.
int serve(std::shared_ptr<const config::Config> config, const Options& options, const char* version,
          const std::string& executable, Takeover* takeover, InheritedSockets* inherited) {
  std::string error;
  auto event_output = log::Output::open(config->log.events, error);
  if (!event_output) {
    std::fprintf(stderr, "haven: %s\n", error.c_str());
    if (takeover != nullptr) takeover->failed(error);
    return 1;
  }
  auto events = std::make_shared<log::EventLog>(event_output, config->log.format);
  // Start-up failed: said here, and to the process this one was to replace (which keeps serving).
  const auto fail = [&events, takeover](const std::string& why) {
    events->write("error", why);
    if (takeover != nullptr) takeover->failed(why);
    return 1;
  };
  auto access_output = log::Output::open(config->log.access, error);
  if (!access_output) return fail(error);

  proxy::SharedCounters shared(config->global.max_connections_per_client);
  const FdLimitResult limit = raise_fd_limit(config->global.max_connections);
  shared.max_connections = limit.max_connections;
  if (!limit.warning.empty()) events->write("warning", limit.warning);

  int worker_count = config->global.workers;
  if (worker_count == 0) worker_count = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));

  auto maintenance = fallback::MaintenanceResponses::build(*config);
  if (!maintenance) return fail(maintenance.error());
  auto ticket_keys = std::make_shared<tls::TicketKeys>();
  if (inherited != nullptr) ticket_keys->adopt(inherited->ticket_keys());
  auto tls_contexts = proxy::TlsContexts::build(*config, ticket_keys, state::wall_clock_ms());
  if (!tls_contexts) return fail(tls_contexts.error().to_string());
  state::Registry registry(static_cast<std::size_t>(worker_count));
  auto binding = registry.bind(*config, true);
  // Before the checker or any worker looks: a server the old process knew DOWN is DOWN from the
  // first request on, and a drained one stays drained.
  const std::size_t inherited_servers = inherited != nullptr ? inherited->apply_server_state(registry) : 0;
  auto snapshot = std::make_shared<const proxy::Snapshot>(config, std::move(maintenance).value(), std::move(binding),
                                                          std::move(tls_contexts).value());
  std::vector<std::unique_ptr<proxy::Worker>> workers;
  std::vector<std::uint16_t> ports(config->frontends.size(), 0);
  // Sockets taken over: per frontend, per worker.
  std::vector<std::vector<std::vector<int>>> taken(config->frontends.size());
  if (inherited != nullptr) {
    for (std::size_t i = 0; i < config->frontends.size(); ++i) {
      taken[i] = inherited->take_frontend(config->frontends[i], static_cast<std::size_t>(worker_count), ports[i]);
    }
  }
  for (int w = 0; w < worker_count; ++w) {
    workers.push_back(std::make_unique<proxy::Worker>(w, snapshot, shared, access_output, events));
    std::vector<std::vector<int>> own(config->frontends.size());
    for (std::size_t i = 0; i < taken.size(); ++i) {
      if (!taken[i].empty()) own[i] = std::move(taken[i][static_cast<std::size_t>(w)]);
    }
    // The first worker binds what the config says (port 0: the OS picks); the others share its ports.
    if (const std::string listen_error = workers.back()->listen(ports, std::move(own)); !listen_error.empty()) {
      for (auto& per_frontend : taken) {
        for (auto& per_worker : per_frontend) {
          for (const int fd : per_worker) ::close(fd);
        }
      }
      return fail(listen_error);
    }
  }
  // A backend's mode changed (on whichever thread): every worker pushes it to its status-feed
  // subscribers. The listener goes before the workers do.
  registry.status_signal().listen([&workers] {
    for (auto& worker : workers) worker->notify_status_change();
  });
  struct StopListening {
    state::StatusSignal& signal;
    ~StopListening() { signal.listen({}); }
  } stop_listening{registry.status_signal()};
  for (std::size_t i = 0; i < config->frontends.size(); ++i) {
    const auto& frontend = config->frontends[i];
    const std::string host = frontend.bind.is_ipv6 ? "[" + frontend.bind.host + "]" : frontend.bind.host;
    events->write("listening",
                  fmt::format("frontend {} listening on {}:{} ({} worker{})", frontend.name, host, ports[i],
                              worker_count, worker_count == 1 ? "" : "s"),
                  {{"frontend", frontend.name}, {"address", fmt::format("{}:{}", host, ports[i])}});
  }

  // The supervisor (and its checker) exists before any worker runs: workers report to it.
  Supervisor supervisor(workers, snapshot, ports, *events, version, registry, options.config_path, ticket_keys,
                        {executable, options.config_path, options.pid_file});
  const int admin_fd = inherited != nullptr && config->admin.enabled ? inherited->take_admin(config->admin) : -1;
  if (admin_fd >= 0) {
    supervisor.adopt_admin_socket(admin_fd, config->admin.unix_path);
  } else if (const std::string admin_error = supervisor.open_admin(); !admin_error.empty()) {
    return fail(admin_error);
  }
  supervisor.open_upgrade();
  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (auto& worker : workers) {
    threads.emplace_back([&worker, &supervisor] { worker->run([&supervisor] { supervisor.worker_stopped(); }); });
  }
  int exit_status = 0;
  if (takeover != nullptr) {
    // Sockets no frontend or admin listener here took (a frontend this configuration dropped)
    // would go on taking connections that nobody accepts.
    if (const std::size_t unused = inherited->close_unused(); unused != 0) {
      events->write("upgrade", fmt::format("upgrade in place: closed {} listening socket{} of frontends this "
                                           "configuration does not have", unused, unused == 1 ? "" : "s"));
    }
    if (std::string unconfirmed = takeover->ready(); !unconfirmed.empty()) {
      supervisor.stop_serving(
          fmt::format("upgrade in place from process {} not completed: {}", inherited->pid(), unconfirmed));
      exit_status = 1;
    } else {
      events->write("upgrade",
                    fmt::format("upgrade in place: took over from process {} (haven {}): its listening sockets, TLS "
                                "ticket keys, and the health and admin state of {} servers; it finishes its in-flight "
                                "requests and exits",
                                inherited->pid(), inherited->version(), inherited_servers),
                    {{"pid", inherited->pid()}});
    }
  }
  if (exit_status == 0) {
    notify_serving();
    if (!options.pid_file.empty()) {
      if (std::string pid_error = write_pid_file(options.pid_file); !pid_error.empty()) {
        events->write("warning", pid_error);
      }
    }
  }
  supervisor.run();
  for (auto& thread : threads) thread.join();
  // After a hand-over the pid file is the new process's, whatever it says at this instant.
  if (!options.pid_file.empty() && exit_status == 0 && !supervisor.handed_over()) remove_pid_file(options.pid_file);
  events->write("stopped", "all requests finished; exiting");
  return exit_status;
}

}  // namespace

int run(int argc, char** argv, const char* version) {
  if (argc >= 2 && std::string_view(argv[1]) == "ctl") return ctl_main(argc - 1, argv + 1);
  Options options;
  std::string error;
  if (!parse_options(argc, argv, options, error)) {
    std::fprintf(stderr, "haven: %s\n\n%s", error.c_str(), usage());
    return 2;
  }
  if (options.show_help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  if (options.show_version) {
    std::printf("haven %s\n", version);
    return 0;
  }
  auto loaded = config::load_config_file(options.config_path);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().to_string().c_str());
    return 1;
  }
  auto config = std::make_shared<const config::Config>(std::move(loaded).value());
  if (options.check_only) {
    // Certificates are read and checked as a start would (expired, mismatched key, bad PEM).
    if (auto tls = proxy::TlsContexts::build(*config, std::make_shared<tls::TicketKeys>(), state::wall_clock_ms()); !tls) {
      std::fprintf(stderr, "%s\n", tls.error().to_string().c_str());
      return 1;
    }
    std::fputs(check_summary(*config).c_str(), stdout);
    return 0;
  }
  // Read now: by the time SIGUSR2 asks for it, the binary at this path may be the new one.
  const std::string executable = current_executable(argv[0]);
  // A client or server that vanishes mid-write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Until the supervisor watches SIGHUP and SIGUSR2 (and after it stops), they are ignored, never
  // fatal.
  std::signal(SIGHUP, SIG_IGN);
  std::signal(SIGUSR2, SIG_IGN);
  if (options.upgrade_from.empty() && options.upgrade_from_pid == 0) {
    return serve(std::move(config), options, version, executable, nullptr, nullptr);
  }

  // Upgrade in place: the configuration is good (above); now the running haven's sockets.
  long pid = options.upgrade_from_pid;
  if (pid == 0) {
    pid = read_pid_file(options.upgrade_from, error);
    if (pid == 0) {
      std::fprintf(stderr, "haven: cannot upgrade: %s\n", error.c_str());
      return 1;
    }
  }
  Takeover takeover;
  Handover handover;
  if (error = takeover.start(pid, handover); !error.empty()) {
    std::fprintf(stderr, "haven: cannot upgrade from process %ld: %s; it keeps serving\n", pid, error.c_str());
    return 1;
  }
  InheritedSockets inherited(std::move(handover));
  return serve(std::move(config), options, version, executable, &takeover, &inherited);
}

}  // namespace haven::app

#include "haven/admin/state_file.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace haven::admin {

namespace {

upstream::Server* find(const Inventory& inventory, std::string_view id) {
  for (const upstream::Backend* backend : inventory.backends) {
    for (const auto& server : backend->servers) {
      if (server->id == id) return server.get();
    }
  }
  return nullptr;
}


}  // namespace

std::string save_state_file(const std::string& path, const Inventory& inventory) {
  std::string text = "# haven admin state: backend/server STATE WEIGHT (\"-\": the configured weight)\n";
  for (const upstream::Backend* backend : inventory.backends) {
    for (const auto& server : backend->servers) {
      const state::ServerRuntime& runtime = server->runtime;
      const auto weight = runtime.runtime_weight();
      if (runtime.admin_state() == state::AdminState::Ready && !weight) continue;
      text += fmt::format("{} {} {}\n", server->id, state::admin_state_word(runtime.admin_state()),
                          weight ? std::to_string(*weight) : "-");
    }
  }
  const std::string temporary = path + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) return fmt::format("cannot write {}: {}", temporary, std::strerror(errno));
  const bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  // No fsync: it can stall the supervisor's loop (and so its health checks) for as long as the
  // disk likes. The rename keeps the file whole if haven dies; only a machine crash may lose the
  // last change.
  const bool flushed = std::fflush(file) == 0;
  const int saved_errno = errno;
  std::fclose(file);
  if (!written || !flushed) {
    std::remove(temporary.c_str());
    return fmt::format("cannot write {}: {}", temporary, std::strerror(saved_errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary.c_str());
    return fmt::format("cannot replace {}: {}", path, std::strerror(rename_errno));
  }
  return {};
}

std::vector<std::string> load_state_file(const std::string& path, const Inventory& inventory) {
  std::vector<std::string> warnings;
  std::ifstream file(path);
  if (!file) {
    if (errno != ENOENT) warnings.push_back(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    return warnings;
  }
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    std::string id;
    std::string state_text;
    std::string weight_text;
    std::string rest;
    if (!(fields >> id >> state_text >> weight_text) || (fields >> rest)) {
      warnings.push_back(fmt::format("{}:{}: expected \"backend/server STATE WEIGHT\"", path, number));
      continue;
    }
    upstream::Server* server = find(inventory, id);
    if (server == nullptr) {
      warnings.push_back(fmt::format("{}:{}: no server {} in the configuration; its saved state is dropped", path,
                                     number, id));
      continue;
    }
    const auto admin_state = state::parse_admin_state(state_text);
    std::optional<int> weight;
    bool weight_ok = weight_text == "-";
    if (!weight_ok) {
      int value = -1;
      const auto [end, error] = std::from_chars(weight_text.data(), weight_text.data() + weight_text.size(), value);
      weight_ok = error == std::errc() && end == weight_text.data() + weight_text.size() && value >= 0 && value <= 256;
      if (weight_ok) weight = value;
    }
    if (!admin_state || !weight_ok) {
      warnings.push_back(fmt::format("{}:{}: STATE must be ready, drain or maint and WEIGHT 0 to 256 or -", path, number));
      continue;
    }
    server->runtime.set_admin_state(*admin_state);
    server->runtime.set_runtime_weight(weight);
  }
  return warnings;
}

}  // namespace haven::admin

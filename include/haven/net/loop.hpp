#pragma once
// Owns one uv_loop_t. Everything that includes uv.h lives in net (architecture.md); other
// modules see only these wrappers.
#include <cstdint>

struct uv_loop_s;

namespace haven::net {

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs until no active handle is left or stop() is called.
  void run();
  // Runs one non-blocking iteration (tests use it to drive callbacks).
  void run_once_nowait();
  void stop();
  // Closes every handle still open and runs the loop until uv_loop_close succeeds; returns false
  // when handles had to be force-closed (a leak the owner should have prevented).
  bool close();
  // Milliseconds of the loop's cached clock.
  [[nodiscard]] std::uint64_t now_ms() const;
  void update_time();

  [[nodiscard]] uv_loop_s* get() const { return loop_; }

 private:
  uv_loop_s* loop_;
  bool closed_ = false;
};

}  // namespace haven::net

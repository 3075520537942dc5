#include "haven/net/loop.hpp"

#include <uv.h>

namespace haven::net {

Loop::Loop() : loop_(new uv_loop_t) { uv_loop_init(loop_); }

Loop::~Loop() {
  close();
  delete loop_;
}

void Loop::run() { uv_run(loop_, UV_RUN_DEFAULT); }
void Loop::run_once_nowait() { uv_run(loop_, UV_RUN_NOWAIT); }
void Loop::stop() { uv_stop(loop_); }
std::uint64_t Loop::now_ms() const { return uv_now(loop_); }
void Loop::update_time() { uv_update_time(loop_); }

bool Loop::close() {
  if (closed_) return true;
  bool clean = true;
  if (uv_loop_close(loop_) == UV_EBUSY) {
    // Handles still open belong to owners that did not close them; close them so the loop can end.
    uv_walk(
        loop_,
        [](uv_handle_t* handle, void* arg) {
          if (!uv_is_closing(handle)) {
            uv_close(handle, nullptr);
            *static_cast<bool*>(arg) = false;
          }
        },
        &clean);
    for (int i = 0; i < 1000 && uv_loop_close(loop_) == UV_EBUSY; ++i) uv_run(loop_, UV_RUN_NOWAIT);
  }
  closed_ = true;
  return clean;
}

}  // namespace haven::net

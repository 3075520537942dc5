#include "haven/net/deadline.hpp"

#include <doctest/doctest.h>

#include "haven/net/timer.hpp"

using haven::core::Duration;
using haven::net::Deadline;
using haven::net::HandleOwner;
using haven::net::Loop;
using haven::net::Timer;

namespace {

struct Probe final : HandleOwner {
  int fired = 0;
  std::uint64_t fired_at = 0;
  Loop* loop = nullptr;
  void on_handle_closed() override {}
  static void on_fire(void* self) noexcept {
    auto& probe = *static_cast<Probe*>(self);
    ++probe.fired;
    probe.fired_at = probe.loop->now_ms();
  }
};

// Runs the loop until `timer` (a safety stop) fires or nothing is left to do.
void run_for(Loop& loop, Duration limit) {
  struct Stop {
    static void on_fire(void* loop) noexcept { static_cast<Loop*>(loop)->stop(); }
  };
  Timer stop(loop, &Stop::on_fire, &loop);
  stop.start(limit);
  loop.run();
  stop.close();
  loop.run_once_nowait();
}

}  // namespace

TEST_CASE("a deadline moved later fires at the later time, once") {
  Loop loop;
  Probe probe;
  probe.loop = &loop;
  Deadline deadline(loop, &Probe::on_fire, &probe);
  const std::uint64_t start = loop.now_ms();
  deadline.set(Duration(20));
  deadline.set(Duration(80));  // later: the timer stays armed for 20 ms and re-arms itself
  run_for(loop, Duration(400));
  CHECK(probe.fired == 1);
  CHECK(probe.fired_at - start >= 80);
  deadline.close(&probe);
  loop.run();
}

TEST_CASE("a deadline moved earlier fires at the earlier time") {
  Loop loop;
  Probe probe;
  probe.loop = &loop;
  Deadline deadline(loop, &Probe::on_fire, &probe);
  const std::uint64_t start = loop.now_ms();
  deadline.set(Duration(300));
  deadline.set(Duration(20));
  run_for(loop, Duration(200));
  CHECK(probe.fired == 1);
  CHECK(probe.fired_at - start < 200);
  deadline.close(&probe);
  loop.run();
}

TEST_CASE("a cleared deadline never fires") {
  Loop loop;
  Probe probe;
  probe.loop = &loop;
  Deadline deadline(loop, &Probe::on_fire, &probe);
  deadline.set(Duration(20));
  deadline.clear();
  run_for(loop, Duration(100));
  CHECK(probe.fired == 0);
  deadline.close(&probe);
  loop.run();
}

#include "haven/net/buffer_pool.hpp"

#include <vector>

#include <doctest/doctest.h>

using haven::net::Buffer;
using haven::net::BufferPool;

TEST_CASE("the pool keeps what recent load needed and gives back the rest") {
  BufferPool pool;
  std::vector<Buffer*> burst;
  for (int i = 0; i < 100; ++i) burst.push_back(pool.acquire());
  for (Buffer* buffer : burst) pool.release(buffer);
  CHECK(pool.free_count() == 100);
  pool.trim();  // the last interval peaked at 100 in use: keep enough to reach it again
  CHECK(pool.free_count() == 100);
  pool.trim();  // a quiet interval: down to the small reserve
  CHECK(pool.free_count() == BufferPool::kMinFree);
}

TEST_CASE("a released buffer comes back empty") {
  BufferPool pool;
  Buffer* buffer = pool.acquire();
  buffer->end = 123;
  pool.release(buffer);
  Buffer* again = pool.acquire();
  CHECK(again->end == 0);
  pool.release(again);
}

#pragma once
// The one way a harness reports a broken invariant: a trap, which libFuzzer records as a crash
// with the input that caused it, and which fails the replay test in normal builds.

namespace haven::fuzz {

inline void require(bool holds) {
  if (!holds) __builtin_trap();
}

}  // namespace haven::fuzz

#pragma once

namespace haven::app {

// The whole program: options, configuration, workers, signals. Returns the exit code.
int run(int argc, char** argv, const char* version);

}  // namespace haven::app

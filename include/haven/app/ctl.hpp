#pragma once
// `haven ctl`: the admin API from a terminal or a script (status, servers, drain, maint, ready,
// weight, reload), with exit codes a script can use.
namespace haven::app {

inline constexpr int kCtlDone = 0;
inline constexpr int kCtlRefused = 1;      // haven said no (unknown name, invalid configuration, ...)
inline constexpr int kCtlUsage = 2;
inline constexpr int kCtlUnreachable = 3;  // no admin listener answered

// argv[0] is "ctl".
int ctl_main(int argc, char** argv);

}  // namespace haven::app

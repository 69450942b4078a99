// mmctl's exit codes (documented in mmctl(1)).
#pragma once

namespace mm {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadCheckpoint = 1;  // the checkpoint does not load
inline constexpr int kExitUsage = 2;          // wrong command line
inline constexpr int kExitNoDaemon = 3;       // mmd is not running, refused us, or went away
inline constexpr int kExitRequestFailed = 4;  // the daemon answered the request with an error
inline constexpr int kExitDaemonFailed = 5;   // the daemon is up but its model failed to load

}  // namespace mm

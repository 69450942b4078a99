// mmctl's exit codes (documented in mmctl(1)).
#pragma once

namespace mm {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadCheckpoint = 1;  // the checkpoint does not load
inline constexpr int kExitUsage = 2;          // wrong command line

}  // namespace mm

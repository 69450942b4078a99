// The line mmctl draws while the daemon loads or wakes: a bar, the percent, the checkpoint
// bytes read of the total, the read rate over the last few seconds and the time left.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace mm {

class LoadProgressMeter {
 public:
  // A status seen `seconds` after the wait began. A smaller `bytes_done` than before (a new
  // load: the daemon woke again) starts the rate over.
  void add(double seconds, uint64_t bytes_done, uint64_t bytes_total);
  // Bytes per second over the window; nullopt until it spans enough time to say.
  std::optional<double> rate() const;
  // Seconds left at that rate; nullopt without a rate or a total.
  std::optional<double> eta() const;

 private:
  static constexpr double kWindowSeconds = 3.0;
  std::deque<std::pair<double, uint64_t>> window_;
  uint64_t total_ = 0;
};

// "[#####.....]  42% 120/340 MB 310 MB/s ETA 6 s"; without a byte total (the checkpoint is
// not open yet, or an older daemon) the fraction alone, or a marker that moves with `seconds`,
// and the seconds so far.
std::string format_load_line(double fraction, uint64_t bytes_done, uint64_t bytes_total,
                             std::optional<double> rate, std::optional<double> eta, double seconds);

}  // namespace mm

#include "client/mmctl/load_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mm {

namespace {

constexpr int kBarWidth = 30;

// Decimal units as disks and rates are quoted: one unit for both sides of "done/total".
struct Unit {
  double scale;
  const char* name;
};

Unit unit_for(double bytes) {
  if (bytes >= 1e9) return {1e9, "GB"};
  if (bytes >= 1e6) return {1e6, "MB"};
  if (bytes >= 1e3) return {1e3, "kB"};
  return {1.0, "B"};
}

std::string amount(double value, const Unit& unit) {
  char text[32];
  const double scaled = value / unit.scale;
  // Three significant digits are enough to see it move.
  std::snprintf(text, sizeof text, scaled < 10.0 && unit.scale > 1.0 ? "%.1f" : "%.0f", scaled);
  return text;
}

std::string duration(double seconds) {
  const auto s = static_cast<long long>(std::ceil(std::max(seconds, 0.0)));
  char text[32];
  if (s < 100)
    std::snprintf(text, sizeof text, "%lld s", s);
  else if (s < 6000)
    std::snprintf(text, sizeof text, "%lld min %02lld s", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lld h %02lld min", s / 3600, s / 60 % 60);
  return text;
}

}  // namespace

void LoadProgressMeter::add(double seconds, uint64_t bytes_done, uint64_t bytes_total) {
  if (!window_.empty() && (bytes_done < window_.back().second || bytes_total != total_))
    window_.clear();
  total_ = bytes_total;
  window_.emplace_back(seconds, bytes_done);
  while (window_.size() > 2 && seconds - window_[1].first >= kWindowSeconds)
    window_.pop_front();
}

std::optional<double> LoadProgressMeter::rate() const {
  if (window_.size() < 2) return std::nullopt;
  const double span = window_.back().first - window_.front().first;
  if (span < 0.5) return std::nullopt;
  return static_cast<double>(window_.back().second - window_.front().second) / span;
}

std::optional<double> LoadProgressMeter::eta() const {
  const auto r = rate();
  if (!r || *r <= 0.0 || total_ == 0 || window_.empty()) return std::nullopt;
  return static_cast<double>(total_ - std::min(total_, window_.back().second)) / *r;
}

std::string format_load_line(double fraction, uint64_t bytes_done, uint64_t bytes_total,
                             std::optional<double> rate, std::optional<double> eta,
                             double seconds) {
  if (bytes_total > 0)
    fraction =
        static_cast<double>(std::min(bytes_done, bytes_total)) / static_cast<double>(bytes_total);
  fraction = std::clamp(fraction, 0.0, 1.0);
  std::string bar(kBarWidth, '.');
  if (fraction > 0.0) {
    std::fill_n(bar.begin(), static_cast<int>(fraction * kBarWidth), '#');
  } else {  // nothing known yet: a marker going back and forth
    const int pos = static_cast<int>(seconds * 10) % (2 * kBarWidth - 2);
    bar[static_cast<size_t>(pos < kBarWidth ? pos : 2 * kBarWidth - 2 - pos)] = '#';
  }
  char percent[16];
  std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction * 100.0));
  std::string line = "[" + bar + "] " + percent;
  if (bytes_total > 0) {
    const Unit unit = unit_for(static_cast<double>(bytes_total));
    line += " " + amount(static_cast<double>(bytes_done), unit) + "/" +
            amount(static_cast<double>(bytes_total), unit) + " " + unit.name;
  }
  if (rate) {
    const Unit unit = unit_for(*rate);
    line += " " + amount(*rate, unit) + " " + unit.name + "/s";
  }
  if (eta && bytes_done < bytes_total)
    line += " ETA " + duration(*eta);
  else if (bytes_total == 0) {  // nothing else says it is moving: the seconds so far
    char so_far[32];
    std::snprintf(so_far, sizeof so_far, " %.1f s", seconds);
    line += so_far;
  }
  return line;
}

}  // namespace mm

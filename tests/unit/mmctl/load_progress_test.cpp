// mmctl's load progress line: the bar, the bytes in one unit, the rate over a window that
// starts over when a new load begins, and the time left.
#include "client/mmctl/load_progress.h"

#include <gtest/gtest.h>

namespace mm {
namespace {

TEST(LoadProgressLine, BarBytesRateAndEta) {
  LoadProgressMeter meter;
  meter.add(0.0, 100'000'000, 340'000'000);
  EXPECT_FALSE(meter.rate());  // one sample says nothing about speed
  meter.add(1.0, 150'000'000, 340'000'000);
  ASSERT_TRUE(meter.rate());
  EXPECT_DOUBLE_EQ(*meter.rate(), 50e6);
  EXPECT_DOUBLE_EQ(*meter.eta(), 190e6 / 50e6);
  EXPECT_EQ(format_load_line(0.0, 150'000'000, 340'000'000, meter.rate(), meter.eta(), 1.0),
            "[#############.................]  44% 150/340 MB 50 MB/s ETA 4 s");
  EXPECT_EQ(format_load_line(0.0, 1'200'000'000, 2'900'000'000, 310e6, 5.4, 9.0),
            "[############..................]  41% 1.2/2.9 GB 310 MB/s ETA 6 s");
  EXPECT_EQ(format_load_line(0.0, 90'000'000'000, 230'000'000'000, 1.5e9, 250.0, 60.0),
            "[###########...................]  39% 90/230 GB 1.5 GB/s ETA 4 min 10 s");
}

TEST(LoadProgressLine, WithoutBytesTheFractionOrAMovingMarker) {
  // An older daemon sends no bytes: its fraction still fills the bar.
  EXPECT_EQ(format_load_line(0.5, 0, 0, std::nullopt, std::nullopt, 2.0),
            "[###############...............]  50% 2.0 s");
  const std::string a = format_load_line(0.0, 0, 0, std::nullopt, std::nullopt, 0.0);
  const std::string b = format_load_line(0.0, 0, 0, std::nullopt, std::nullopt, 0.5);
  EXPECT_NE(a, b) << "the marker moves";
  EXPECT_EQ(a, "[#.............................]   0% 0.0 s");
}

TEST(LoadProgressLine, TheRateStartsOverWithANewLoadAndForgetsOldSamples) {
  LoadProgressMeter meter;
  meter.add(0.0, 0, 1000);
  meter.add(1.0, 1000, 1000);
  meter.add(1.5, 10, 1000);  // woke again: read from the start
  EXPECT_FALSE(meter.rate());
  meter.add(2.5, 110, 1000);
  EXPECT_DOUBLE_EQ(*meter.rate(), 100.0);

  // Twice a second: 3 s at 10 B/s, then 3.5 s at 100 B/s; the rate is the last 3 s only.
  LoadProgressMeter window;
  uint64_t done = 0;
  for (int i = 0; i <= 13; ++i) {
    window.add(0.5 * i, done, 100'000);
    done += i < 6 ? 5 : 50;
  }
  EXPECT_DOUBLE_EQ(*window.rate(), 100.0);
}

}  // namespace
}  // namespace mm

// The shared-memory ring: frames in order across wrap-around, full and empty reported without
// blocking, the waiting flags, and a corrupt header or length detected instead of trusted.
#include <gtest/gtest.h>

#include <unistd.h>

#include <thread>
#include <vector>

#include "ipc/shm_ring.h"
#include "ipc/shm_segment.h"

namespace mm::ipc {
namespace {

struct LocalRing {
  explicit LocalRing(uint64_t capacity)
      : memory(ShmRing::footprint(capacity) / 8 + 8), ring(ShmRing::create(memory.data(), capacity)) {}
  RingHeader& header() { return *reinterpret_cast<RingHeader*>(memory.data()); }
  std::vector<uint64_t> memory;  // 8-byte aligned backing store
  ShmRing ring;
};

TEST(ShmRing, FramesSurviveWrapAroundInOrder) {
  LocalRing local(64);
  std::string out;
  for (int i = 0; i < 100; ++i) {
    const std::string frame(static_cast<size_t>(i % 23), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(local.ring.try_write(frame)) << i;
    ASSERT_EQ(local.ring.read(out), ShmRing::ReadResult::kFrame);
    EXPECT_EQ(out, frame);
  }
  EXPECT_EQ(local.ring.read(out), ShmRing::ReadResult::kEmpty);
}

TEST(ShmRing, FullIsReportedAndOversizedFramesThrow) {
  LocalRing local(64);
  const std::string frame(26, 'x');  // 30 bytes with its length
  EXPECT_TRUE(local.ring.try_write(frame));
  EXPECT_TRUE(local.ring.try_write(frame));
  EXPECT_FALSE(local.ring.try_write(frame));  // 60 used, 4 free
  EXPECT_EQ(local.ring.used_bytes(), 60u);
  EXPECT_THROW(local.ring.try_write(std::string(61, 'y')), std::length_error);
  std::string out;
  ASSERT_EQ(local.ring.read(out), ShmRing::ReadResult::kFrame);
  EXPECT_TRUE(local.ring.try_write(frame));
}

TEST(ShmRing, WaitFlagsAreTakenOnce) {
  LocalRing local(64);
  EXPECT_TRUE(local.ring.arm_reader_wait());  // empty: safe to sleep
  EXPECT_TRUE(local.ring.try_write(std::string("a")));
  EXPECT_TRUE(local.ring.take_reader_waiting());
  EXPECT_FALSE(local.ring.take_reader_waiting());
  EXPECT_FALSE(local.ring.arm_reader_wait());  // data is there: do not sleep
  local.ring.set_writer_waiting();
  std::string out;
  ASSERT_EQ(local.ring.read(out), ShmRing::ReadResult::kFrame);
  EXPECT_TRUE(local.ring.take_writer_waiting());
  EXPECT_FALSE(local.ring.take_writer_waiting());
}

TEST(ShmRing, CorruptPositionsAndLengthsAreDetected) {
  LocalRing local(64);
  std::string out;
  local.header().write_pos = 1000;  // more than the capacity ahead of read_pos
  EXPECT_EQ(local.ring.read(out), ShmRing::ReadResult::kCorrupt);
  local.header().write_pos = 2;  // less than a length prefix
  EXPECT_EQ(local.ring.read(out), ShmRing::ReadResult::kCorrupt);
  LocalRing other(64);
  ASSERT_TRUE(other.ring.try_write(std::string("abc")));
  reinterpret_cast<char*>(other.memory.data())[sizeof(RingHeader)] = 60;  // length 60 > 3
  EXPECT_EQ(other.ring.read(out), ShmRing::ReadResult::kCorrupt);
}

TEST(ShmRing, TwoThreadsStreamAMillionBytes) {
  LocalRing local(1024);
  constexpr int kNumFrames = 20000;
  std::thread writer([&] {
    for (int i = 0; i < kNumFrames; ++i) {
      const std::string frame = std::to_string(i);
      while (!local.ring.try_write(frame))
        std::this_thread::yield();
    }
  });
  std::string out;
  for (int i = 0; i < kNumFrames;) {
    const auto result = local.ring.read(out);
    ASSERT_NE(result, ShmRing::ReadResult::kCorrupt);
    if (result == ShmRing::ReadResult::kEmpty) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(out, std::to_string(i));
    ++i;
  }
  writer.join();
}

TEST(ShmSegment, CreateAttachShareTheRings) {
  const std::string name = "mmd-unit-" + std::to_string(::getpid());
  ShmSegment daemon_side = ShmSegment::create(name, 1024, 2048);
  const int fd = ::dup(daemon_side.fd());
  daemon_side.unlink();
  ShmSegment client_side = ShmSegment::attach(fd);
  EXPECT_EQ(client_side.size(), daemon_side.size());
  EXPECT_EQ(client_side.to_client().capacity(), 2048u);
  ASSERT_TRUE(client_side.to_daemon().try_write(std::string("hello")));
  std::string out;
  ASSERT_EQ(daemon_side.to_daemon().read(out), ShmRing::ReadResult::kFrame);
  EXPECT_EQ(out, "hello");
  EXPECT_THROW(ShmSegment::create(name + "/bad", 1000, 1024), std::runtime_error);
}

}  // namespace
}  // namespace mm::ipc

#include "ipc/shm_segment.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mm::ipc {

namespace bip = boost::interprocess;

struct ShmSegment::Boost {
  bip::shared_memory_object object;
  bip::mapped_region region;
  bool unlinked = false;
};

ShmSegment::ShmSegment() = default;
ShmSegment::ShmSegment(ShmSegment&& other) noexcept { swap(other); }
ShmSegment& ShmSegment::operator=(ShmSegment&& other) noexcept {
  ShmSegment moved(std::move(other));
  swap(moved);
  return *this;
}

void ShmSegment::swap(ShmSegment& other) noexcept {
  std::swap(boost_, other.boost_);
  std::swap(mapped_, other.mapped_);
  std::swap(size_, other.size_);
  std::swap(name_, other.name_);
  std::swap(to_daemon_, other.to_daemon_);
  std::swap(to_client_, other.to_client_);
}

ShmSegment::~ShmSegment() {
  if (boost_) unlink();
  if (mapped_ != nullptr) ::munmap(mapped_, size_);
  mapped_ = nullptr;
}

size_t ShmSegment::total_bytes(uint64_t to_daemon_capacity, uint64_t to_client_capacity) {
  return sizeof(SegmentHeader) + ShmRing::footprint(to_daemon_capacity) +
         ShmRing::footprint(to_client_capacity);
}

ShmSegment ShmSegment::create(const std::string& name, uint64_t to_daemon_capacity,
                              uint64_t to_client_capacity, std::optional<uid_t> owner_uid) {
  ShmSegment segment;
  segment.name_ = name;
  segment.size_ = total_bytes(to_daemon_capacity, to_client_capacity);
  try {
    bip::permissions mode(0600);
    auto boost = std::make_unique<Boost>();
    boost->object = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write, mode);
    segment.boost_ = std::move(boost);  // from here the destructor removes the name
    // The umask must not widen or narrow the mode: set it on the descriptor itself.
    const int fd = segment.fd();
    if (::fchmod(fd, 0600) != 0) {
      throw std::runtime_error(std::string("fchmod: ") + std::strerror(errno));
    }
    if (owner_uid && ::geteuid() == 0 && ::fchown(fd, *owner_uid, static_cast<gid_t>(-1)) != 0) {
      throw std::runtime_error(std::string("fchown: ") + std::strerror(errno));
    }
    segment.boost_->object.truncate(static_cast<bip::offset_t>(segment.size_));
    segment.boost_->region = bip::mapped_region(segment.boost_->object, bip::read_write);
  } catch (const std::exception& error) {
    throw std::runtime_error("shared memory segment /" + name + ": " + error.what());
  }
  auto* base = static_cast<char*>(segment.boost_->region.get_address());
  auto* header = new (base) SegmentHeader{kSegmentMagic, kSegmentVersion, to_daemon_capacity,
                                          to_client_capacity};
  (void)header;
  char* ring = base + sizeof(SegmentHeader);
  segment.to_daemon_ = ShmRing::create(ring, to_daemon_capacity);
  segment.to_client_ =
      ShmRing::create(ring + ShmRing::footprint(to_daemon_capacity), to_client_capacity);
  return segment;
}

ShmSegment ShmSegment::attach(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("shared memory descriptor: fstat: ") +
                             std::strerror(error));
  }
  const auto size = static_cast<size_t>(info.st_size);
  if (size < sizeof(SegmentHeader)) {
    ::close(fd);
    throw std::runtime_error("shared memory segment of " + std::to_string(size) +
                             " bytes is smaller than its header");
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int map_error = errno;
  ::close(fd);
  if (base == MAP_FAILED) {
    throw std::runtime_error(std::string("shared memory segment: mmap: ") +
                             std::strerror(map_error));
  }
  ShmSegment segment;
  segment.mapped_ = base;
  segment.size_ = size;
  SegmentHeader header;
  std::memcpy(&header, base, sizeof header);
  if (header.magic != kSegmentMagic || header.version != kSegmentVersion) {
    throw std::runtime_error("shared memory segment: bad magic or version " +
                             std::to_string(header.version));
  }
  const auto pow2 = [](uint64_t c) { return c >= 64 && (c & (c - 1)) == 0; };
  if (!pow2(header.to_daemon_capacity) || !pow2(header.to_client_capacity) ||
      header.to_daemon_capacity > size || header.to_client_capacity > size ||
      total_bytes(header.to_daemon_capacity, header.to_client_capacity) != size) {
    throw std::runtime_error("shared memory segment: ring capacities " +
                             std::to_string(header.to_daemon_capacity) + " and " +
                             std::to_string(header.to_client_capacity) + " do not fit its " +
                             std::to_string(size) + " bytes");
  }
  char* ring = static_cast<char*>(base) + sizeof(SegmentHeader);
  segment.to_daemon_ = ShmRing(ring, header.to_daemon_capacity);
  segment.to_client_ =
      ShmRing(ring + ShmRing::footprint(header.to_daemon_capacity), header.to_client_capacity);
  return segment;
}

int ShmSegment::fd() const {
  return boost_ ? static_cast<int>(boost_->object.get_mapping_handle().handle) : -1;
}

void ShmSegment::unlink() {
  if (!boost_ || boost_->unlinked) return;
  bip::shared_memory_object::remove(name_.c_str());
  boost_->unlinked = true;
}

}  // namespace mm::ipc

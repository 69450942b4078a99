// Fuzzes the client's side of the connection setup (ipc/handshake.cpp, ipc/unix_socket.cpp,
// ipc/shm_segment.cpp): whatever answers on the socket path (a broken or hostile daemon, or
// a process squatting there) sends a SetupMessage, maybe with descriptors, and a segment
// whose header and rings it wrote itself. receive_setup must map a consistent segment or
// throw std::runtime_error; never crash, hang or leak a descriptor; the rings it maps are
// then read and written within their bounds.
//
// Input: byte 0: flags (bit 0: attach the segment, bit 1: attach a second descriptor,
// bit 2: in a second message, bit 3: the setup in two pieces); then up to 256 bytes of
// SetupMessage (fewer: the peer closes early); the rest is the segment's contents.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipc/handshake.h"
#include "ipc/shm_segment.h"

namespace {

// Which of the first 256 descriptors are open: the set changes when one leaks.
std::bitset<256> open_fds() {
  std::bitset<256> out;
  for (int fd = 0; fd < 256; ++fd)
    out[fd] = ::fcntl(fd, F_GETFD) != -1;
  return out;
}

void send_piece(int socket_fd, const char* bytes, size_t n, const std::vector<int>& fds) {
  msghdr message{};
  iovec io{const_cast<char*>(bytes), n};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  if (!fds.empty()) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(header), fds.data(), fds.size() * sizeof(int));
  }
  if (::sendmsg(socket_fd, &message, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) __builtin_trap();
}

void use_ring(mm::ipc::ShmRing& ring) {
  // The client reads what the "daemon" left there and writes a frame, as it would.
  std::string out;
  for (int i = 0; i < 8; ++i) {
    const auto result = ring.read(out);
    if (result != mm::ipc::ShmRing::ReadResult::kFrame) break;
    if (out.size() > ring.max_frame_bytes()) __builtin_trap();
  }
  const std::string frame(16, 'x');
  (void)ring.try_write(frame);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const size_t setup_bytes = std::min<size_t>(size - 1, sizeof(mm::ipc::SetupMessage));
  const char* setup = reinterpret_cast<const char*>(data + 1);
  const char* image = setup + setup_bytes;
  const size_t image_bytes = size - 1 - setup_bytes;

  const std::bitset<256> fds_before = open_fds();
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) __builtin_trap();
  const int segment_fd = ::memfd_create("mmd-fuzz-segment", MFD_CLOEXEC);
  if (segment_fd < 0) __builtin_trap();
  if (image_bytes > 0 &&
      ::pwrite(segment_fd, image, image_bytes, 0) != static_cast<ssize_t>(image_bytes)) {
    __builtin_trap();
  }
  std::vector<int> fds;
  if (flags & 1) fds.push_back(segment_fd);
  const int other_fd = ::memfd_create("mmd-fuzz-other", MFD_CLOEXEC);  // any other descriptor
  if (other_fd < 0) __builtin_trap();
  if (flags & 2) fds.push_back(other_fd);
  const size_t first = (flags & 8) && setup_bytes > 1 ? setup_bytes / 2 : setup_bytes;
  if (flags & 4 && fds.size() == 2 && first < setup_bytes) {
    // One descriptor with each piece.
    send_piece(pair[1], setup, first, {fds[0]});
    send_piece(pair[1], setup + first, setup_bytes - first, {fds[1]});
  } else if (setup_bytes > 0) {
    send_piece(pair[1], setup, first, fds);
    if (first < setup_bytes) send_piece(pair[1], setup + first, setup_bytes - first, {});
  }
  ::close(pair[1]);
  ::close(segment_fd);
  ::close(other_fd);

  try {
    mm::ipc::ShmSegment segment = mm::ipc::receive_setup(pair[0], std::chrono::milliseconds(20));
    // Mapped: the header and the size agree (shm_segment.cpp's checks).
    mm::ipc::SegmentHeader header;
    if (segment.size() != image_bytes || image_bytes < sizeof header) __builtin_trap();
    std::memcpy(&header, image, sizeof header);
    if (mm::ipc::ShmSegment::total_bytes(header.to_daemon_capacity, header.to_client_capacity) !=
        segment.size()) {
      __builtin_trap();
    }
    use_ring(segment.to_client());
    use_ring(segment.to_daemon());
  } catch (const std::runtime_error& error) {
    if (std::string(error.what()).empty()) __builtin_trap();
  }
  ::close(pair[0]);
  if (open_fds() != fds_before) __builtin_trap();  // a descriptor leaked
  return 0;
}

#include "daemon/model/checkpoint_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/model/load_error.h"

namespace mm {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void fail_errno(const std::string& file, const char* what, int error) {
  throw LoadError(file + ": " + what + " (" + std::strerror(error) + ")");
}

// stat() of `path`, with errors that say what is wrong with it. False when nothing is there.
bool stat_regular(const std::filesystem::path& path, struct stat* st) {
  const std::string file = path.string();
  if (::stat(file.c_str(), st) != 0) {
    const int error = errno;
    struct stat link {};
    if (error == ENOENT && ::lstat(file.c_str(), &link) == 0) {
      throw LoadError(file + ": is a symbolic link to a file that does not exist");
    }
    if (error == ENOENT) return false;
    if (error == ELOOP)
      throw LoadError(file + ": symbolic link loop (" + std::strerror(error) + ")");
    fail_errno(file, "cannot stat", error);
  }
  if (!S_ISREG(st->st_mode)) {
    throw LoadError(file + ": is " + kind_of(st->st_mode) + ", not a regular file");
  }
  return true;
}

}  // namespace

int open_regular_file(const std::filesystem::path& path, uint64_t* size) {
  const std::string file = path.string();
  struct stat before {};
  if (!stat_regular(path, &before)) throw LoadError(file + ": does not exist");
  // O_NONBLOCK: should the file be replaced by a FIFO between stat() and open(), open()
  // returns at once instead of waiting for a writer; fstat() below then refuses it.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail_errno(file, "cannot open", errno);
  struct stat after {};
  if (::fstat(fd, &after) != 0) {
    const int error = errno;
    ::close(fd);
    fail_errno(file, "cannot stat", error);
  }
  if (!S_ISREG(after.st_mode) || after.st_ino != before.st_ino || after.st_dev != before.st_dev) {
    ::close(fd);
    throw LoadError(
        file + ": changed while being opened (now " +
        (S_ISREG(after.st_mode) ? std::string("another file") : kind_of(after.st_mode)) + ")");
  }
  // Regular files ignore O_NONBLOCK, but clear it so reads behave as documented everywhere.
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size != nullptr) *size = static_cast<uint64_t>(after.st_size);
  return fd;
}

std::optional<std::string> read_regular_file(const std::filesystem::path& path,
                                             uint64_t max_bytes) {
  const std::string file = path.string();
  struct stat st {};
  if (!stat_regular(path, &st)) return std::nullopt;
  uint64_t size = 0;
  const int fd = open_regular_file(path, &size);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (size > max_bytes) {
    throw LoadError(file + ": " + std::to_string(size) + " bytes is larger than the limit of " +
                    std::to_string(max_bytes));
  }
  std::string text(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, text.data() + done, size - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_errno(file, "cannot read", errno);
    if (got == 0) {
      throw LoadError(file + ": shrank to " + std::to_string(done) + " bytes while being read");
    }
    done += static_cast<size_t>(got);
  }
  return text;
}

}  // namespace mm

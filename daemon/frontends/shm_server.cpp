#include "daemon/frontends/shm_server.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "daemon/engine/engine.h"
#include "daemon/frontends/shm_connection.h"
#include "daemon/service/log.h"
#include "ipc/handshake.h"
#include "ipc/unix_socket.h"

namespace mm {

ShmServer::ShmServer(uv_loop_t* loop, Engine& engine, ShmServerOptions options)
    : loop_(loop), engine_(engine), options_(std::move(options)) {
  async_ = new uv_async_t{};
  uv_async_init(loop_, async_, &ShmServer::on_async);
  async_->data = this;
  notifier_ = std::make_shared<LoopNotifier>(async_);
}

ShmServer::~ShmServer() {
  close();
}

void ShmServer::start() {
  const mode_t mode = options_.allow_other_users ? 0666 : options_.socket_mode;
  listen_fd_ = ipc::listen_unix(options_.socket_path, mode);
  socket_file_ = ipc::socket_file_id(options_.socket_path);
  std::string access = "its own user (uid " + std::to_string(::geteuid()) + ") and root";
  if (options_.allow_other_users) {
    access = "every local user (allow_other_users)";
  } else if (!options_.socket_group.empty()) {
    std::vector<char> buffer(16384);
    group record{};
    group* found = nullptr;
    ::getgrnam_r(options_.socket_group.c_str(), &record, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      log_notice("group '" + options_.socket_group + "' does not exist: only " + access +
                 " may connect on " + options_.socket_path);
    } else if (::chown(options_.socket_path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      log_warning("cannot give " + options_.socket_path + " to group '" + options_.socket_group +
                  "' (" + std::strerror(errno) + "): only " + access + " may connect");
    } else {
      group_id_ = found->gr_gid;
      access += " and members of group '" + options_.socket_group + "'";
    }
  }
  uv_poll_init(loop_, &listen_poll_, listen_fd_);
  listen_poll_.data = this;
  uv_poll_start(&listen_poll_, UV_READABLE, &ShmServer::on_listen);
  uv_timer_init(loop_, &accept_backoff_);
  accept_backoff_.data = this;
  listening_ = true;
  log_info("listening on " + options_.socket_path + " for " + access);
}

void ShmServer::on_listen(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<ShmServer*>(handle->data);
  if (status < 0) {
    self->log_rate_limited(std::string("client socket: ") + uv_strerror(status));
    return;
  }
  self->accept_all();
}

void ShmServer::log_rate_limited(const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < std::chrono::seconds(1)) {
    ++lines_held_back_;
    return;
  }
  log_warning(lines_held_back_ == 0 ? line
                                    : line + " (" + std::to_string(lines_held_back_) +
                                          " more such lines in the last second held back)");
  last_log_ = now;
  lines_held_back_ = 0;
}

void ShmServer::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const int error = errno;
      log_rate_limited(std::string("accept on ") + options_.socket_path + ": " +
                       std::strerror(error) +
                       (error == EMFILE || error == ENFILE ? "; accepting again in 250 ms" : ""));
      if ((error == EMFILE || error == ENFILE) && !accept_paused_) {
        // The pending connection stays in the backlog: stop watching the listener (it would
        // wake us at once, forever) until a descriptor may have come free.
        accept_paused_ = true;
        uv_poll_stop(&listen_poll_);
        uv_timer_start(
            &accept_backoff_,
            [](uv_timer_t* timer) {
              auto* self = static_cast<ShmServer*>(timer->data);
              self->accept_paused_ = false;
              if (self->listening_)
                uv_poll_start(&self->listen_poll_, UV_READABLE, &ShmServer::on_listen);
            },
            250, 0);
      }
      return;
    }
    accept_one(fd);
  }
}

std::string ShmServer::access_refusal(int fd, const ipc::PeerCredentials& peer) const {
  if (options_.allow_other_users || peer.uid == ::geteuid() || peer.uid == 0) return {};
  if (group_id_) {
    if (peer.gid == *group_id_) return {};
    try {
      for (gid_t gid : ipc::peer_groups(fd)) {
        if (gid == *group_id_) return {};
      }
    } catch (const std::exception&) {
      // Without the peer's groups only its primary group counts.
    }
  }
  return "uid " + std::to_string(peer.uid) + " may not use this daemon: only uid " +
         std::to_string(::geteuid()) + ", root" +
         (group_id_ ? " and members of group '" + options_.socket_group + "'" : std::string()) +
         " may (allow_other_users opens it to everyone)";
}

namespace {

// 0 when `count` more descriptors can be opened (tried by duplicating `fd` that many times,
// then closing the copies), else the errno that stopped it.
int spare_descriptors_error(int fd, int count) {
  std::vector<int> spare;
  int error = 0;
  for (int i = 0; i < count; ++i) {
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      error = errno;
      break;
    }
    spare.push_back(copy);
  }
  for (int copy : spare)
    ::close(copy);
  return error;
}

}  // namespace

void ShmServer::accept_one(int fd) {
  ipc::PeerCredentials peer;
  try {
    peer = ipc::peer_credentials(fd);
  } catch (const std::exception& error) {
    log_warning(std::string("refusing a client: ") + error.what());
    ::close(fd);
    return;
  }
  const uint64_t id = next_connection_id_++;
  try {
    std::string why = access_refusal(fd, peer);
    if (why.empty() && options_.max_connections > 0 &&
        num_connections() >= options_.max_connections)
      why = "too many connections (the limit is " + std::to_string(options_.max_connections) +
            ", ipc_max_connections)";
    if (!why.empty()) {
      log_rate_limited("refusing pid " + std::to_string(peer.pid) + ": " + why);
      ipc::send_refusal(fd, why);
      ::close(fd);
      return;
    }
    // A client costs two descriptors (socket and segment); the daemon keeps a margin beyond
    // them for its own work (the disk KV tier's files, checkpoint and log files, HTTP and D-Bus
    // peers; and the sanitizer runtime, whose memory checks open a pipe). Without that margin
    // the client is refused plainly instead of the daemon running at its limit.
    if (const int error = spare_descriptors_error(fd, kSpareDescriptors); error != 0) {
      why = std::string("the daemon is out of file descriptors (") + std::strerror(error) +
            ": it keeps " + std::to_string(kSpareDescriptors) + " for itself); try again later";
      log_rate_limited("refusing pid " + std::to_string(peer.pid) + ": " + why);
      ipc::send_refusal(fd, why);
      ::close(fd);
      return;
    }
    std::random_device random;
    const std::string name = "mmd-" + std::to_string(::getpid()) + "-" + std::to_string(id) + "-" +
                             std::to_string(random());
    ipc::ShmSegment segment = ipc::ShmSegment::create(name, options_.to_daemon_ring_bytes,
                                                      options_.to_client_ring_bytes, peer.uid);
    // The client maps the descriptor we pass, not the name: remove the name before anything
    // else, so that no crash of either side can leave the segment behind.
    segment.unlink();
    ipc::send_setup(fd, segment);
    auto* connection = new ShmConnection(*this, id, fd, peer, std::move(segment));
    connections_[id] = connection;
    log_info("connection " + std::to_string(id) + " from pid " + std::to_string(peer.pid) +
             " uid " + std::to_string(peer.uid));
    connection->start(loop_);
  } catch (const std::exception& error) {
    log_warning("connection from pid " + std::to_string(peer.pid) + " failed: " + error.what());
    ::close(fd);
  }
}

void ShmServer::on_async(uv_async_t* handle) {
  auto* self = static_cast<ShmServer*>(handle->data);
  // Delivering may close a connection (which erases it): walk a copy of the ids.
  std::vector<uint64_t> ids;
  ids.reserve(self->connections_.size());
  for (const auto& [id, connection] : self->connections_)
    ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = self->connections_.find(id);  // an earlier one may have closed (never another)
    if (it != self->connections_.end()) it->second->deliver_engine_events();
  }
  self->check_drained();
}

int ShmServer::num_unfinished_requests() const {
  int count = 0;
  for (const auto& [id, connection] : connections_)
    count += connection->num_unfinished_requests();
  return count;
}

ipc::StatusReply ShmServer::status_reply() const {
  ipc::StatusReply reply = to_status_reply(engine_.status());
  reply.model = options_.served_model_name;
  reply.num_connections = num_connections();
  reply.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (draining_ && (reply.state == "ready" || reply.state == "sleeping")) reply.state = "draining";
  return reply;
}

void ShmServer::begin_drain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  check_drained();
}

void ShmServer::check_drained() {
  if (!draining_ || !on_drained_) return;
  for (const auto& [id, connection] : connections_) {
    if (connection->num_unfinished_requests() > 0 || connection->has_unsent_output()) return;
  }
  auto callback = std::move(on_drained_);
  on_drained_ = nullptr;
  callback();
}

void ShmServer::connection_closed(uint64_t id) {
  connections_.erase(id);
  check_drained();
}

void ShmServer::close() {
  if (closed_) return;
  closed_ = true;
  std::vector<ShmConnection*> connections;
  for (auto& [id, connection] : connections_)
    connections.push_back(connection);
  for (ShmConnection* connection : connections)
    connection->close("the daemon is shutting down");
  if (listening_) {
    uv_poll_stop(&listen_poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&listen_poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&accept_backoff_), nullptr);
    ::close(listen_fd_);
    // Only our own socket file: a daemon started since on the same path keeps its socket.
    ipc::unlink_socket_file_if(options_.socket_path, socket_file_);
    listening_ = false;
  }
  notifier_->detach();
  uv_close(reinterpret_cast<uv_handle_t*>(async_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
  async_ = nullptr;
}

}  // namespace mm

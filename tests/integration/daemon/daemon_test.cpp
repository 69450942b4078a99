// The real mmd binary on the tiny checkpoint, driven through libmmclient, raw ipc frames and
// mmctl: concurrency, cancellation, a client killed mid-stream, malformed frames, a slow
// reader, SIGTERM drain, the sd_notify sequence and an idle daemon that does not step.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "client/libmmclient/mmclient.h"
#include "ipc/codec.h"
#include "ipc/frame_endpoint.h"
#include "ipc/handshake.h"
#include "ipc/unix_socket.h"
#include "tests/integration/daemon/daemon_process.h"
#include "tests/integration/daemon/raw_connection.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using testing::DaemonProcess;
using testing::RawConnection;

constexpr auto kReadyTimeout = 60s;

std::vector<int32_t> prompt_of(int length, int32_t seed) {
  std::vector<int32_t> out;
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((seed * 37 + i * 11) % 250 + 3));
  return out;
}

ipc::Submit greedy(std::vector<int32_t> prompt, int max_tokens) {
  ipc::Submit submit;
  submit.prompt_token_ids = std::move(prompt);
  submit.sampling.temperature = 0.0f;
  submit.sampling.max_tokens = max_tokens;
  submit.sampling.ignore_eos = true;
  return submit;
}

std::unique_ptr<client::Client> connect(const DaemonProcess& daemon) {
  client::ConnectOptions options;
  options.socket_path = daemon.socket_path();
  options.client_name = "daemon_test";
  return client::Client::connect(options);
}

struct Streamed {
  client::Outcome outcome;
  std::vector<int32_t> tokens;
};

Streamed run(client::Client& client, const ipc::Submit& submit) {
  Streamed result;
  const uint64_t id = client.submit(submit);
  result.outcome = client.stream(
      id,
      [&](const ipc::Delta& d) {
        result.tokens.insert(result.tokens.end(), d.token_ids.begin(), d.token_ids.end());
      },
      60s);
  return result;
}

// Polls the daemon's status until `done` holds or the deadline passes; the last status.
template <typename Predicate>
ipc::StatusReply status_until(client::Client& client, Predicate done,
                              std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ipc::StatusReply status = client.status();
  while (!done(status) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    status = client.status();
  }
  return status;
}

TEST(Daemon, NotifiesLoadingReadyWatchdogAndStopping) {
  // Load progress every millisecond, so the tiny model's short load still reports some.
  // stderr is the journal, as systemd says (JOURNAL_STREAM): lines carry priority prefixes.
  DaemonProcess daemon({"--load-report-ms", "1"}, {{"WATCHDOG_USEC", "200000"},
                                                   {"JOURNAL_STREAM", DaemonProcess::kLogStream}});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  ASSERT_TRUE(daemon.wait_for_notification("WATCHDOG=1", 5s)) << daemon.log();
  daemon.send_signal(SIGTERM);
  ASSERT_TRUE(daemon.wait_for_notification("STOPPING=1", 10s)) << daemon.log();
  EXPECT_EQ(daemon.wait_exit(20s), 0) << daemon.log();
  const int loading = daemon.find_notification("STATUS=loading tiny-bf16");
  const int extend = daemon.find_notification("EXTEND_TIMEOUT_USEC=");
  const int ready = daemon.find_notification("READY=1");
  const int stopping = daemon.find_notification("STOPPING=1");
  EXPECT_EQ(loading, 0);
  EXPECT_EQ(extend, 0);  // sent with the first STATUS, before the load can time out
  EXPECT_LT(loading, ready);
  EXPECT_LT(ready, stopping);
  EXPECT_NE(daemon.notifications()[static_cast<size_t>(ready)].find("STATUS=serving tiny-bf16"),
            std::string::npos);
  // Progress reports, if the load lasted long enough for one, count up and come before READY.
  int last_percent = -1;
  for (int i = 0; i < ready; ++i) {
    const std::string& n = daemon.notifications()[static_cast<size_t>(i)];
    const auto at = n.find("STATUS=loading weights ");
    if (at == std::string::npos) continue;
    const int percent = std::stoi(n.substr(at + 23));
    EXPECT_GE(percent, last_percent) << n;
    EXPECT_LE(percent, 100) << n;
    EXPECT_NE(n.find("EXTEND_TIMEOUT_USEC="), std::string::npos) << n;
    last_percent = percent;
  }
  // Journald priority prefixes on every log line.
  const std::string log = daemon.log();
  EXPECT_NE(log.find("<6>loading "), std::string::npos) << log;
  size_t line_start = 0;
  while (line_start < log.size()) {
    EXPECT_TRUE(log.size() > line_start + 3 && log[line_start] == '<' &&
                log[line_start + 1] >= '0' && log[line_start + 1] <= '7' &&
                log[line_start + 2] == '>')
        << "line without a priority prefix at byte " << line_start << " of\n"
        << log;
    const size_t end = log.find('\n', line_start);
    if (end == std::string::npos) break;
    line_start = end + 1;
  }
  EXPECT_NE(log.find("<5>Terminated: draining 0 requests"), std::string::npos) << log;
}

// Without JOURNAL_STREAM, or with one naming another stream (a child of a journal-logged
// shell whose stderr was redirected), stderr is a plain file: no "<N>" prefixes.
TEST(Daemon, LogLinesArePlainWhenStderrIsNotTheJournal) {
  for (const char* stream : {"", "1:1"}) {
    std::map<std::string, std::string> env;
    if (*stream != '\0') env["JOURNAL_STREAM"] = stream;
    DaemonProcess daemon({}, env);
    ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
    daemon.send_signal(SIGTERM);
    EXPECT_EQ(daemon.wait_exit(20s), 0) << daemon.log();
    const std::string log = daemon.log();
    EXPECT_NE(log.find("loading "), std::string::npos) << "JOURNAL_STREAM=" << stream << ":\n"
                                                       << log;
    EXPECT_NE(log.find("\nTerminated: draining 0 requests"), std::string::npos) << log;
    size_t line_start = 0;
    while (line_start < log.size()) {
      EXPECT_NE(log[line_start], '<') << "a prefix at byte " << line_start << " of\n" << log;
      const size_t end = log.find('\n', line_start);
      if (end == std::string::npos) break;
      line_start = end + 1;
    }
  }
}

TEST(Daemon, SixteenConcurrentClientsStreamWhatEachGetsAlone) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  constexpr int kNumClients = 16;
  std::vector<Streamed> concurrent(kNumClients);
  std::vector<std::string> errors(kNumClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kNumClients; ++c) {
    threads.emplace_back([&, c] {
      try {
        auto client = connect(daemon);
        concurrent[c] = run(*client, greedy(prompt_of(5 + c, c), 24));
      } catch (const std::exception& error) {
        errors[c] = error.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  auto client = connect(daemon);
  for (int c = 0; c < kNumClients; ++c) {
    ASSERT_EQ(errors[c], "") << "client " << c;
    ASSERT_TRUE(concurrent[c].outcome.ok) << concurrent[c].outcome.error.message;
    EXPECT_EQ(concurrent[c].outcome.finished.reason, "length");
    EXPECT_EQ(concurrent[c].outcome.finished.usage.completion_tokens, 24);
    EXPECT_EQ(concurrent[c].tokens.size(), 24u);
    const Streamed alone = run(*client, greedy(prompt_of(5 + c, c), 24));
    EXPECT_EQ(concurrent[c].tokens, alone.tokens) << "client " << c;
  }
  // The engine publishes its counters just after the last finish: wait for them to settle.
  const ipc::StatusReply status = status_until(*client, [&](const ipc::StatusReply& s) {
    return s.requests_finished_total == 2u * kNumClients && s.num_kv_blocks_used == 0;
  });
  EXPECT_EQ(status.requests_finished_total, 2u * kNumClients);
  EXPECT_EQ(status.num_kv_blocks_used, 0);
}

TEST(Daemon, CancelMidStreamEndsTheRequestAndFreesItsBlocks) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  const uint64_t id = client->submit(greedy(prompt_of(20, 1), 4000));
  int num_tokens = 0;
  bool cancelled = false;
  std::optional<client::Event> last;
  for (;;) {
    auto event = client->next(id, 30s);
    ASSERT_TRUE(event.has_value());
    if (event->kind == client::Event::Kind::kDelta) {
      num_tokens += static_cast<int>(event->delta.token_ids.size());
      if (!cancelled) {
        client->cancel(id);
        cancelled = true;
      }
    }
    if (event->is_last()) {
      last = event;
      break;
    }
  }
  ASSERT_EQ(last->kind, client::Event::Kind::kFinished) << last->error.message;
  EXPECT_EQ(last->finished.reason, "cancelled");
  EXPECT_LT(num_tokens, 4000);
  EXPECT_EQ(last->finished.usage.completion_tokens, num_tokens);
  const auto status =
      status_until(*client, [](const ipc::StatusReply& s) { return s.num_kv_blocks_used == 0; });
  EXPECT_EQ(status.num_kv_blocks_used, 0);
  EXPECT_EQ(status.num_running, 0);
  // Cancelling an id that was never submitted is an error for that command only.
  client->cancel(999);
  EXPECT_TRUE(run(*client, greedy(prompt_of(4, 2), 3)).outcome.ok);
}

TEST(Daemon, ClientKilledMidStreamFreesItsBlocksAndOthersContinue) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto observer = connect(daemon);

  // The victim is a separate process: mmctl generate, streaming token ids to a pipe.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t victim = ::fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    const std::string mmctl = std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl";
    ::execl(mmctl.c_str(), "mmctl", "generate", "--socket", daemon.socket_path().c_str(),
            "--tokens", "9,8,7,6,5,4,3,2,1,9,8,7", "--max-tokens", "4000", "--temperature", "0",
            "--ignore-eos", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  // A bystander streams on its own connection the whole time.
  Streamed bystander;
  std::thread bystander_thread([&] {
    auto client = connect(daemon);
    bystander = run(*client, greedy(prompt_of(7, 3), 300));
  });

  char byte = 0;
  ASSERT_EQ(::read(pipe_fds[0], &byte, 1), 1) << "the victim streamed nothing";
  const ipc::StatusReply during = observer->status();
  EXPECT_GT(during.num_kv_blocks_used, 0);
  ::kill(victim, SIGKILL);
  int wait_status = 0;
  ::waitpid(victim, &wait_status, 0);
  ::close(pipe_fds[0]);
  EXPECT_TRUE(WIFSIGNALED(wait_status));

  bystander_thread.join();
  ASSERT_TRUE(bystander.outcome.ok) << bystander.outcome.error.message;
  EXPECT_EQ(bystander.tokens.size(), 300u);
  const auto after = status_until(*observer, [](const ipc::StatusReply& s) {
    return s.num_kv_blocks_used == 0 && s.num_running == 0 && s.num_connections == 1;
  });
  EXPECT_EQ(after.num_kv_blocks_used, 0);
  EXPECT_EQ(after.num_running, 0);
  EXPECT_EQ(after.num_connections, 1);  // the observer
  // The victim's request was cut short, not run to its 4000 tokens.
  EXPECT_LT(after.generation_tokens_total, 300u + 4000u);
  EXPECT_NE(daemon.log().find("cancelled 1 requests"), std::string::npos) << daemon.log();
}

TEST(Daemon, MalformedFramesFailOnlyTheirConnection) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto good = connect(daemon);
  {
    RawConnection raw(daemon.socket_path());
    const std::string garbage = "\xc1\xc1\xc1";  // 0xc1 is never used in msgpack
    ASSERT_TRUE(raw.endpoint.send(garbage, 5s));
    const ipc::ServerFrame frame = raw.receive();
    const auto* error = std::get_if<ipc::Error>(&frame.message);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(frame.id, 0u);
    EXPECT_EQ(error->code, ipc::ErrorCode::kBadFrame);
    EXPECT_NE(error->message.find("frame 1"), std::string::npos) << error->message;
    EXPECT_TRUE(raw.closed_by_daemon());
  }
  {
    // Well-formed msgpack, wrong field type: the error names the field.
    RawConnection raw(daemon.socket_path());
    ASSERT_TRUE(raw.endpoint.send(ipc::encode(ipc::ClientFrame{1, ipc::Hello{}}), 5s));
    EXPECT_TRUE(std::holds_alternative<ipc::HelloReply>(raw.receive().message));
    // A Submit whose temperature is a string: [2, 7, {"sampling": {"temperature": "hot"}}].
    const std::string forged = "\x93\x02\x07\x81\xa8sampling\x81\xabtemperature\xa3hot";
    ASSERT_TRUE(raw.endpoint.send(forged, 5s));
    const ipc::ServerFrame frame = raw.receive();
    const auto* error = std::get_if<ipc::Error>(&frame.message);
    ASSERT_NE(error, nullptr);
    EXPECT_EQ(error->code, ipc::ErrorCode::kBadFrame);
    EXPECT_NE(error->message.find("Submit.sampling.temperature: expected a number, got a string"),
              std::string::npos)
        << error->message;
    EXPECT_TRUE(raw.closed_by_daemon());
  }
  // The well-behaved client never noticed.
  const Streamed result = run(*good, greedy(prompt_of(6, 4), 10));
  ASSERT_TRUE(result.outcome.ok);
  EXPECT_EQ(result.tokens.size(), 10u);
  EXPECT_EQ(good->status().num_connections, 1);
}

TEST(Daemon, SlowReaderIsCancelledWithAnErrorNamingItsRequest) {
  // A 1 KiB reply ring and 32 unread tokens at most: a client that does not read loses its
  // request quickly, while another client keeps streaming.
  DaemonProcess daemon({"--ipc-ring-bytes", "1024", "--ipc-max-unread-tokens", "32"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto slow = connect(daemon);
  auto fast = connect(daemon);
  const uint64_t slow_id = slow->submit(greedy(prompt_of(8, 5), 3000));
  // Not reading `slow` from here on. The engine must keep serving `fast`.
  const Streamed fast_result = run(*fast, greedy(prompt_of(9, 6), 200));
  ASSERT_TRUE(fast_result.outcome.ok);
  EXPECT_EQ(fast_result.tokens.size(), 200u);
  const auto status = status_until(*fast, [](const ipc::StatusReply& s) {
    return s.num_running == 0 && s.num_waiting == 0 && s.requests_finished_total >= 2;
  });
  ASSERT_EQ(status.num_running, 0);
  EXPECT_LT(status.generation_tokens_total, 200u + 3000u);  // cut short
  // Now the slow client reads: some deltas, then the error.
  int num_tokens = 0;
  std::optional<client::Event> last;
  for (;;) {
    auto event = slow->next(slow_id, 10s);
    ASSERT_TRUE(event.has_value());
    if (event->kind == client::Event::Kind::kDelta)
      num_tokens += static_cast<int>(event->delta.token_ids.size());
    if (event->is_last()) {
      last = event;
      break;
    }
  }
  ASSERT_EQ(last->kind, client::Event::Kind::kError);
  EXPECT_EQ(last->error.code, ipc::ErrorCode::kSlowReader);
  EXPECT_NE(last->error.message.find("request " + std::to_string(slow_id) + " (engine request"),
            std::string::npos)
      << last->error.message;
  EXPECT_NE(last->error.message.find("unread"), std::string::npos);
  EXPECT_LT(num_tokens, 3000);
  EXPECT_GT(num_tokens, 0);
  // The connection itself still works.
  EXPECT_TRUE(run(*slow, greedy(prompt_of(3, 7), 4)).outcome.ok);
}

TEST(Daemon, SigtermLetsInFlightRequestsFinishAndRefusesNewOnes) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  // 600 tokens take about a second on the tiny model: SIGTERM lands mid-request.
  const uint64_t id = client->submit(greedy(prompt_of(10, 8), 600));
  auto first = client->next(id, 30s);  // Accepted
  ASSERT_TRUE(first && first->kind == client::Event::Kind::kAccepted);
  daemon.send_signal(SIGTERM);
  ASSERT_TRUE(daemon.wait_for_notification("STOPPING=1", 10s)) << daemon.log();
  const Streamed refused = run(*client, greedy(prompt_of(3, 1), 3));
  EXPECT_FALSE(refused.outcome.ok);
  EXPECT_EQ(refused.outcome.error.code, ipc::ErrorCode::kStopping);
  int num_tokens = 0;
  const auto outcome = client->stream(
      id, [&](const ipc::Delta& d) { num_tokens += static_cast<int>(d.token_ids.size()); }, 60s);
  ASSERT_TRUE(outcome.ok) << outcome.error.message;
  EXPECT_EQ(outcome.finished.reason, "length");
  EXPECT_EQ(num_tokens, 600);
  EXPECT_EQ(daemon.wait_exit(20s), 0) << daemon.log();
  EXPECT_NE(daemon.log().find("draining 1 requests"), std::string::npos) << daemon.log();
  EXPECT_FALSE(std::filesystem::exists(daemon.socket_path()));
}

TEST(Daemon, DrainTimeoutEndsRequestsWithTheReason) {
  DaemonProcess daemon({"--drain-timeout", "0"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  const uint64_t id = client->submit(greedy(prompt_of(10, 9), 4000));
  auto first = client->next(id, 30s);
  ASSERT_TRUE(first && first->kind == client::Event::Kind::kAccepted);
  daemon.send_signal(SIGTERM);
  const auto outcome = client->stream(id, nullptr, 60s);
  ASSERT_TRUE(outcome.ok) << outcome.error.message;
  EXPECT_EQ(outcome.finished.reason, "cancelled");
  EXPECT_NE(outcome.finished.message.find("drain timeout of 0.0 s passed"), std::string::npos)
      << outcome.finished.message;
  EXPECT_LT(outcome.finished.usage.completion_tokens, 4000);
  EXPECT_EQ(daemon.wait_exit(20s), 0) << daemon.log();
}

TEST(Daemon, IdleDaemonNeitherStepsNorSpins) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  ASSERT_TRUE(run(*client, greedy(prompt_of(5, 1), 5)).outcome.ok);
  const ipc::StatusReply before = client->status();
  const long ticks_before = testing::cpu_ticks(daemon.pid());
  std::this_thread::sleep_for(1s);  // the idle interval under test, not a readiness wait
  const long ticks_after = testing::cpu_ticks(daemon.pid());
  const ipc::StatusReply after = client->status();
  EXPECT_EQ(after.num_steps, before.num_steps);
  // 1 s of a spinning thread is ~100 ticks; an idle daemon uses none beyond the status calls.
  EXPECT_LE(ticks_after - ticks_before, 2);
}

TEST(Daemon, SegmentsArePrivateAndLeaveNoName) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  const int fd = ipc::connect_unix(daemon.socket_path());
  ipc::SetupMessage setup{};
  const int shm_fd = ipc::receive_with_fd(fd, {reinterpret_cast<char*>(&setup), sizeof setup}, 10s);
  ASSERT_GE(shm_fd, 0);
  struct stat info {};
  ASSERT_EQ(::fstat(shm_fd, &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_uid, ::geteuid());
  EXPECT_EQ(static_cast<uint64_t>(info.st_size), setup.segment_bytes);
  // Once the client answered through the segment, its name is gone from /dev/shm (the daemon
  // removes it right after passing the descriptor): nothing is left to leak.
  ipc::ShmSegment segment = ipc::ShmSegment::attach(shm_fd);
  ipc::FrameEndpoint endpoint(fd, segment.to_daemon(), segment.to_client());
  ASSERT_TRUE(endpoint.send(ipc::encode(ipc::ClientFrame{1, ipc::Hello{}}), 5s));
  std::string reply;
  ASSERT_EQ(endpoint.receive(reply, 10s), ipc::ShmRing::ReadResult::kFrame);
  EXPECT_TRUE(std::holds_alternative<ipc::HelloReply>(ipc::decode_server_frame(reply).message));
  const std::string prefix = "mmd-" + std::to_string(daemon.pid()) + "-";
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm"))
    EXPECT_NE(entry.path().filename().string().rfind(prefix, 0), 0u) << entry.path();
  ::close(fd);
}

TEST(Daemon, StatusSleepAndWakeThroughTheClient) {
  DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  EXPECT_EQ(client->hello().model, "tiny-bf16");
  const Streamed before = run(*client, greedy(prompt_of(11, 2), 8));
  client->sleep(1);
  auto status =
      status_until(*client, [](const ipc::StatusReply& s) { return s.state == "sleeping"; });
  EXPECT_EQ(status.state, "sleeping");
  EXPECT_EQ(status.sleep_level, 1);
  client->wake();
  status = status_until(*client, [](const ipc::StatusReply& s) { return s.state == "ready"; });
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(run(*client, greedy(prompt_of(11, 2), 8)).tokens, before.tokens);
  // Text prompts need the tokenizer, which the fixture does not have: a named refusal.
  ipc::Submit text;
  text.prompt = "hello";
  const Streamed refused = run(*client, text);
  EXPECT_FALSE(refused.outcome.ok);
  EXPECT_EQ(refused.outcome.error.code, ipc::ErrorCode::kNotSupported);
  // The log says who asked for the sleep and the wake.
  const std::string own = "over shm from pid " + std::to_string(::getpid());
  EXPECT_NE(daemon.log().find("a Sleep request " + own), std::string::npos) << daemon.log();
  EXPECT_NE(daemon.log().find("a Wake request " + own), std::string::npos) << daemon.log();
}

// Connects as uid 65534 with the given groups, in a child; the child's exit status says how it
// went: 0 connected, 10 refused by the daemon (its reason names the uid), 11 the socket file's
// mode refused it, 2 another error, 3 the identity change failed.
int connect_as_nobody(const std::string& socket_path, std::vector<gid_t> groups) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(65534) != 0 ||
        ::setuid(65534) != 0)
      ::_exit(3);
    try {
      client::ConnectOptions options;
      options.socket_path = socket_path;
      client::Client::connect(options);
      ::_exit(0);
    } catch (const client::ClientError& error) {
      const std::string message = error.what();
      if (message.find("uid 65534 may not use this daemon") != std::string::npos) ::_exit(10);
      if (message.find("Permission denied") != std::string::npos) ::_exit(11);
      ::_exit(2);
    }
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A throwaway group for the test (groupadd); removed when the test ends.
class ScratchGroup {
 public:
  ScratchGroup() : name_("mmdt" + std::to_string(::getpid())) {
    if (std::system(("groupadd " + name_ + " 2>/dev/null").c_str()) != 0) return;
    if (const group* g = ::getgrnam(name_.c_str())) gid_ = g->gr_gid;
  }
  ~ScratchGroup() {
    if (gid_ && std::system(("groupdel " + name_ + " 2>/dev/null").c_str()) != 0) {
    }
  }
  const std::string& name() const { return name_; }
  std::optional<gid_t> gid() const { return gid_; }

 private:
  std::string name_;
  std::optional<gid_t> gid_;
};

TEST(Daemon, PeerCredentialsDecideWhoMayConnect) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  ScratchGroup group;
  if (!group.gid()) GTEST_SKIP() << "groupadd is not available to make a throwaway group";
  DaemonProcess daemon({"--socket-group", group.name()});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  ::chmod(daemon.dir().c_str(), 0711);  // let the other user reach the socket itself
  struct stat st {};
  ASSERT_EQ(::stat(daemon.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u) << "the socket is for its owner and its group";
  EXPECT_EQ(st.st_gid, *group.gid());
  // Not in the group: the file's mode refuses the connect.
  EXPECT_EQ(connect_as_nobody(daemon.socket_path(), {}), 11);
  // A supplementary member (not its primary group) may.
  EXPECT_EQ(connect_as_nobody(daemon.socket_path(), {*group.gid()}), 0);
  // Our own user still may.
  auto client = connect(daemon);
  EXPECT_TRUE(run(*client, greedy(prompt_of(4, 1), 2)).outcome.ok);
}

TEST(Daemon, ThePeerCheckHoldsWhereTheFileModeWouldNot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  // No such group: owner and root only. The socket file is then opened up by hand (as an
  // admin's chmod would), so the daemon's own check on the peer is what refuses.
  DaemonProcess daemon({"--socket-group", "mmd-no-such-group"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  ::chmod(daemon.dir().c_str(), 0711);
  ::chmod(daemon.socket_path().c_str(), 0666);
  EXPECT_EQ(connect_as_nobody(daemon.socket_path(), {}), 10);
  EXPECT_NE(daemon.log().find("group 'mmd-no-such-group' does not exist"), std::string::npos)
      << daemon.log();
  EXPECT_NE(daemon.log().find("refusing pid"), std::string::npos) << daemon.log();
}

TEST(Daemon, AllowOtherUsersOpensTheSocketToEveryone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another user";
  DaemonProcess daemon({"--allow-other-users"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  ::chmod(daemon.dir().c_str(), 0711);
  struct stat st {};
  ASSERT_EQ(::stat(daemon.socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  EXPECT_EQ(connect_as_nobody(daemon.socket_path(), {}), 0);
}

TEST(Daemon, ASecondDaemonRefusesALiveSocketAndLeavesIt) {
  DaemonProcess first;
  ASSERT_TRUE(first.wait_for_notification("READY=1", kReadyTimeout)) << first.log();
  // The second one on the same path must not take the socket over (and, exiting, delete it).
  DaemonProcess second({"--socket", first.socket_path()});
  const int code = second.wait_exit(kReadyTimeout);
  EXPECT_NE(code, 0);
  EXPECT_NE(second.log().find("another daemon answers on " + first.socket_path() + " (pid"),
            std::string::npos)
      << second.log();
  auto client = connect(first);
  EXPECT_TRUE(run(*client, greedy(prompt_of(4, 1), 2)).outcome.ok);
}

TEST(Daemon, OverrideGenerationConfigSetsTheDefaults) {
  DaemonProcess daemon({"--override-generation-config", R"({"max_new_tokens": 5})"});
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", kReadyTimeout)) << daemon.log();
  auto client = connect(daemon);
  ipc::Submit submit;
  submit.prompt_token_ids = prompt_of(6, 3);
  submit.sampling.temperature = 0.0f;
  submit.sampling.ignore_eos = true;  // max_tokens unset: the override's 5 applies
  const Streamed result = run(*client, submit);
  ASSERT_TRUE(result.outcome.ok) << result.outcome.error.message;
  EXPECT_EQ(result.outcome.finished.reason, "length");
  EXPECT_EQ(result.tokens.size(), 5u);
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs mmctl with `args` (stdin from /dev/null), capturing stdout.
CommandResult mmctl(const std::string& args) {
  const std::string command =
      std::string(MMD_BINARY_DIR) + "/client/mmctl/mmctl " + args + " </dev/null 2>/dev/null";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(Mmctl, StatusGenerateSleepWakeWithJsonAndExitCodes) {
  testing::DaemonProcess daemon;
  ASSERT_TRUE(daemon.wait_for_notification("READY=1", 60s)) << daemon.log();
  const std::string socket = " --socket " + daemon.socket_path();

  auto status = mmctl("status --json" + socket);
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("\"model\": \"tiny-bf16\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"state\": \"ready\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"blocks_total\": 1024"), std::string::npos) << status.out;

  auto generated =
      mmctl("generate --json --tokens 5,6,7 --max-tokens 6 --temperature 0 --ignore-eos" + socket);
  EXPECT_EQ(generated.exit_code, 0);
  EXPECT_NE(generated.out.find("\"finish_reason\":\"length\""), std::string::npos) << generated.out;
  EXPECT_NE(generated.out.find("\"completion_tokens\":6"), std::string::npos) << generated.out;
  auto human =
      mmctl("generate --tokens 5,6,7 --max-tokens 6 --temperature 0 --ignore-eos" + socket);
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_EQ(std::count(human.out.begin(), human.out.end(), ' '), 6) << human.out;

  // The fixture has no tokenizer: a text prompt is a failed request (exit 4), not a crash.
  EXPECT_EQ(mmctl("generate hello" + socket).exit_code, 4);
  EXPECT_EQ(mmctl("chat" + socket).exit_code, 0);  // no input: nothing to say

  auto slept = mmctl("sleep --level 2 --json" + socket);
  EXPECT_EQ(slept.exit_code, 0);
  EXPECT_NE(slept.out.find("\"state\": \"sleeping\""), std::string::npos) << slept.out;
  EXPECT_NE(slept.out.find("\"sleep_level\": 2"), std::string::npos) << slept.out;
  auto woke = mmctl("wake --json" + socket);
  EXPECT_EQ(woke.exit_code, 0);
  EXPECT_NE(woke.out.find("\"state\": \"ready\""), std::string::npos) << woke.out;

  auto bench = mmctl(
      "bench --json --concurrency 4 --num-requests 8 --prompt-tokens 8 --output-tokens 8" + socket);
  EXPECT_EQ(bench.exit_code, 0);
  EXPECT_NE(bench.out.find("\"num_failed\": 0"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("\"output_tokens_per_second\""), std::string::npos) << bench.out;

  EXPECT_EQ(mmctl("status --socket " + daemon.dir() + "/nothing.sock").exit_code, 3);
  EXPECT_EQ(mmctl("sleep --level 3" + socket).exit_code, 2);
}

}  // namespace
}  // namespace mm

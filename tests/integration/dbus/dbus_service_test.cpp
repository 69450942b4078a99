// org.mmd.Engine1 end to end: a private dbus-daemon started by the test, the DbusService on
// it over an Engine on the tiny checkpoint, driven by the generated C++ proxy and by busctl
// and gdbus as subprocesses. Every wait is on an event with a deadline.
#include "daemon/frontends/dbus/dbus_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "daemon/engine/engine.h"
#include "tests/integration/dbus/engine_client.h"
#include "tests/integration/dbus/subprocess.h"

namespace mm {
namespace {

using namespace std::chrono_literals;
using testing::EngineClient;
using testing::PrivateBus;

constexpr auto kDeadline = 60s;     // generous: CI machines are shared and slow
constexpr int kLongRequest = 7900;  // tokens; ~0.5 ms each on the tiny model, more as it grows

EngineOptions tiny_engine_options() {
  EngineOptions options;
  options.model = std::string(MMD_FIXTURE_DIR) + "/tiny-bf16";
  options.runner.kv_dtype = KvDType::kF32;
  options.runner.num_threads = 1;
  options.pool = BlockPoolOptions{
      .block_size = 4, .blocks_per_chunk = 256, .initial_num_chunks = 1, .max_num_chunks = 8};
  // Long enough that a request of kLongRequest tokens runs for seconds even on a fast
  // machine, so a cancel sent after its first Delta lands while it still runs.
  options.scheduler =
      SchedulerConfig{.max_num_batched_tokens = 64, .max_num_seqs = 16, .max_model_len = 8000};
  return options;
}

std::vector<int32_t> prompt_of(int length) {
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(length));
  for (int i = 0; i < length; ++i)
    out.push_back(static_cast<int32_t>((37 + i * 11) % 250 + 3));
  return out;
}

std::map<std::string, sdbus::Variant> greedy(int max_tokens) {
  return {{"max_tokens", sdbus::Variant(int32_t{max_tokens})},
          {"temperature", sdbus::Variant(0.0)},
          {"ignore_eos", sdbus::Variant(true)}};
}

// The error name a call fails with ("" when it succeeds).
template <typename Call>
std::string error_of(Call&& call, std::string* message = nullptr) {
  try {
    call();
  } catch (const sdbus::Error& error) {
    if (message != nullptr) *message = error.getMessage();
    return error.getName();
  }
  return "";
}

class DbusServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v dbus-daemon >/dev/null 2>&1") != 0) return;
    char dir_template[] = "/tmp/mmd-dbus-test.XXXXXX";
    suite_dir = mkdtemp(dir_template);
    suite_bus = std::make_unique<PrivateBus>(suite_dir);
    suite_engine = std::make_unique<Engine>(tiny_engine_options());
    ASSERT_TRUE(suite_engine->wait_ready(kDeadline));
    suite_service = std::make_unique<DbusService>(
        *suite_engine, DbusServiceOptions{.bus = suite_bus->address(),
                                          .model = tiny_engine_options().model.string()});
  }
  static void TearDownTestSuite() {
    suite_service.reset();
    suite_engine.reset();
    suite_bus.reset();
    if (!suite_dir.empty()) std::filesystem::remove_all(suite_dir);
  }
  void SetUp() override {
    if (!suite_bus) GTEST_SKIP() << "dbus-daemon is not installed (Debian package dbus-daemon)";
    client_ = std::make_unique<EngineClient>(suite_bus->address());
  }

  // Waits until the service reports no D-Bus request and the engine no running one.
  void expect_idle() {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    std::map<std::string, sdbus::Variant> status;
    do {
      status = client_->GetStatus();  // a round trip: the service thread has run in between
      if (status.at("active_requests").get<uint32_t>() == 0 &&
          status.at("num_running").get<int32_t>() == 0 &&
          status.at("num_kv_blocks_used").get<int32_t>() == 0)
        return;
      client_->wait_state("never", 20ms);  // waits on the client's signal condition
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "still busy: active_requests " << status.at("active_requests").get<uint32_t>()
                  << ", num_running " << status.at("num_running").get<int32_t>();
  }

  static inline std::filesystem::path suite_dir;
  static inline std::unique_ptr<PrivateBus> suite_bus;
  static inline std::unique_ptr<Engine> suite_engine;
  static inline std::unique_ptr<DbusService> suite_service;
  std::unique_ptr<EngineClient> client_;
};

TEST_F(DbusServiceTest, CompletionStreamsDeltasThenFinished) {
  const uint64_t id = client_->StartCompletion(prompt_of(9), greedy(8));
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "length");
  EXPECT_EQ(finished->prompt_tokens, 9u);
  EXPECT_EQ(finished->completion_tokens, 8u);
  const std::vector<int32_t> streamed = client_->tokens(id);
  ASSERT_EQ(streamed.size(), 8u);
  EXPECT_GE(client_->num_deltas(id), 1);
  EXPECT_EQ(client_->text(id), "");  // no tokenizer in this service
  EXPECT_EQ(client_->ActiveRequests(), 0u);

  // Complete replies with the same greedy tokens, and streams them as well.
  const auto [tokens, text, reason] = client_->Complete(prompt_of(9), greedy(8));
  EXPECT_EQ(tokens, streamed);
  EXPECT_EQ(reason, "length");
  EXPECT_EQ(text, "");
}

TEST_F(DbusServiceTest, PropertiesAndStatus) {
  EXPECT_EQ(client_->State(), "ready");
  EXPECT_EQ(client_->Model(), tiny_engine_options().model.string());
  EXPECT_EQ(client_->ActiveRequests(), 0u);
  const auto status = client_->GetStatus();
  EXPECT_EQ(status.at("state").get<std::string>(), "ready");
  EXPECT_EQ(status.at("kv_block_size").get<int32_t>(), 4);
  EXPECT_GT(status.at("num_kv_blocks_total").get<int32_t>(), 0);
  EXPECT_EQ(status.at("error").get<std::string>(), "");
}

TEST_F(DbusServiceTest, BadRequestsGetNamedErrors) {
  std::string message;
  EXPECT_EQ(error_of([&] { client_->StartCompletion({}, greedy(4)); }, &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3), {{"bogus", sdbus::Variant(1)}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("bogus"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3),
                                           {{"max_tokens", sdbus::Variant(std::string("8"))}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("max_tokens"), std::string::npos) << message;
  EXPECT_EQ(error_of([&] {
              client_->StartCompletion(prompt_of(3), {{"max_tokens", sdbus::Variant(0)}});
            }),
            "org.mmd.Error.InvalidArgument");
  EXPECT_EQ(error_of([&] { client_->Cancel(987654321); }), "org.mmd.Error.UnknownRequest");
  EXPECT_EQ(error_of([&] { client_->Sleep(3); }), "org.mmd.Error.InvalidArgument");
  EXPECT_EQ(error_of([&] { client_->StartChat(R"([{"role":"user","content":"hi"}])", {}); }),
            "org.mmd.Error.NotSupported");
  EXPECT_EQ(error_of([&] { client_->StartTextCompletion("hello", {}); }),
            "org.mmd.Error.NotSupported");
  // Complete replies with its error at once when the request is refused up front...
  EXPECT_EQ(error_of([&] { client_->Complete({}, greedy(4)); }), "org.mmd.Error.InvalidArgument");
  // ...and RequestFailed when the engine fails it (token id beyond the vocabulary).
  EXPECT_EQ(error_of(
                [&] {
                  client_->Complete({5, 1 << 30}, greedy(4));
                },
                &message),
            "org.mmd.Error.RequestFailed");
  EXPECT_FALSE(message.empty());
  const uint64_t id = client_->StartCompletion({5, 1 << 30}, greedy(4));
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "error");
  EXPECT_EQ(finished->message, message);
  expect_idle();
}

TEST_F(DbusServiceTest, CancelEndsARunningRequest) {
  const uint64_t id = client_->StartCompletion(prompt_of(9), greedy(kLongRequest));
  ASSERT_TRUE(client_->wait_first_delta(id, kDeadline));
  EXPECT_TRUE(client_->wait_active_announced(1, kDeadline));
  client_->Cancel(id);
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "cancelled");
  EXPECT_TRUE(client_->wait_active_announced(0, kDeadline));
  EXPECT_LT(finished->completion_tokens, static_cast<uint32_t>(kLongRequest));
  EXPECT_EQ(client_->tokens(id).size(), finished->completion_tokens);
  EXPECT_EQ(error_of([&] { client_->Cancel(id); }), "org.mmd.Error.UnknownRequest");
  expect_idle();
}

TEST_F(DbusServiceTest, ACallerLeavingTheBusCancelsItsRequests) {
  auto leaver = std::make_unique<EngineClient>(suite_bus->address());
  const uint64_t id = leaver->StartCompletion(prompt_of(9), greedy(kLongRequest));
  ASSERT_TRUE(client_->wait_first_delta(id, kDeadline));  // signals are broadcast
  leaver.reset();  // closes its connection: the bus announces the name is gone
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "cancelled");
  expect_idle();
}

TEST_F(DbusServiceTest, SleepAndWakeAreVisibleAsStateChanges) {
  client_->Sleep(1);
  ASSERT_TRUE(client_->wait_state("sleeping", kDeadline));
  EXPECT_EQ(client_->State(), "sleeping");
  EXPECT_EQ(client_->GetStatus().at("sleep_level").get<int32_t>(), 1);
  client_->Wake();
  ASSERT_TRUE(client_->wait_state("ready", kDeadline));
  EXPECT_EQ(client_->State(), "ready");
  const auto [tokens, text, reason] = client_->Complete(prompt_of(5), greedy(3));
  EXPECT_EQ(tokens.size(), 3u);
}

// busctl and gdbus, the clients a user has, against the same service.
TEST_F(DbusServiceTest, BusctlAndGdbusClients) {
  const std::string address = suite_bus->address();
  if (std::system("command -v busctl >/dev/null 2>&1 && command -v gdbus >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "busctl (systemd) or gdbus (libglib2.0-bin) is not installed";
  // gdbus monitor prints every signal of the service; it is subscribed once it has printed
  // who owns the name (its AddMatch calls precede that GetNameOwner on its connection).
  testing::Child monitor({"gdbus", "monitor", "--address", address, "--dest", "org.mmd.Engine1"});
  ASSERT_TRUE(monitor.read_until(
      [](const std::string& s) { return s.find("is owned by") != std::string::npos; }, 10s))
      << monitor.output();

  const std::vector<std::string> busctl = {"busctl", "--address=" + address};
  auto with = [](std::vector<std::string> base, std::vector<std::string> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  // Complete through busctl: one reply with the tokens, after the Delta signals.
  auto complete = testing::run(with(busctl, {"call",
                                             "org.mmd.Engine1",
                                             "/org/mmd/Engine1",
                                             "org.mmd.Engine1",
                                             "Complete",
                                             "aia{sv}",
                                             "3",
                                             "11",
                                             "22",
                                             "33",
                                             "3",
                                             "max_tokens",
                                             "i",
                                             "4",
                                             "temperature",
                                             "d",
                                             "0",
                                             "ignore_eos",
                                             "b",
                                             "true"}),
                               kDeadline);
  ASSERT_EQ(complete.exit_status, 0) << complete.output;
  EXPECT_EQ(complete.output.rfind("aiss 4 ", 0), 0u) << complete.output;  // (ai, s, s)
  EXPECT_NE(complete.output.find("\"length\""), std::string::npos) << complete.output;
  ASSERT_TRUE(monitor.read_until(
      [](const std::string& s) { return s.find("org.mmd.Engine1.Finished") != std::string::npos; },
      kDeadline))
      << monitor.output();
  EXPECT_NE(monitor.output().find("org.mmd.Engine1.Delta"), std::string::npos) << monitor.output();
  EXPECT_NE(monitor.output().find("'length', uint32 3, uint32 4"), std::string::npos)
      << monitor.output();

  auto state = testing::run(with(
      busctl, {"get-property", "org.mmd.Engine1", "/org/mmd/Engine1", "org.mmd.Engine1", "State"}));
  EXPECT_EQ(state.exit_status, 0);
  EXPECT_EQ(state.output, "s \"ready\"\n");
  auto status = testing::run(with(
      busctl, {"call", "org.mmd.Engine1", "/org/mmd/Engine1", "org.mmd.Engine1", "GetStatus"}));
  EXPECT_EQ(status.exit_status, 0);
  EXPECT_NE(status.output.find("\"generation_tokens_total\" t"), std::string::npos)
      << status.output;

  // gdbus prints the error's name.
  auto chat = testing::run({"gdbus", "call", "--address", address, "--dest", "org.mmd.Engine1",
                            "--object-path", "/org/mmd/Engine1", "--method",
                            "org.mmd.Engine1.StartChat", "[]", "{}"});
  EXPECT_NE(chat.exit_status, 0);
  EXPECT_NE(chat.output.find("org.mmd.Error.NotSupported"), std::string::npos) << chat.output;
  auto bad = testing::run({"gdbus", "call", "--address", address, "--dest", "org.mmd.Engine1",
                           "--object-path", "/org/mmd/Engine1", "--method",
                           "org.mmd.Engine1.StartCompletion", "@ai []", "{}"});
  EXPECT_NE(bad.exit_status, 0);
  EXPECT_NE(bad.output.find("org.mmd.Error.InvalidArgument"), std::string::npos) << bad.output;

  // busctl cancels a request another connection of the same user started.
  const uint64_t id = client_->StartCompletion(prompt_of(9), greedy(kLongRequest));
  ASSERT_TRUE(client_->wait_first_delta(id, kDeadline));
  auto cancel = testing::run(with(busctl, {"call", "org.mmd.Engine1", "/org/mmd/Engine1",
                                           "org.mmd.Engine1", "Cancel", "t", std::to_string(id)}));
  EXPECT_EQ(cancel.exit_status, 0) << cancel.output;
  const auto finished = client_->wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "cancelled");
  expect_idle();
}

TEST_F(DbusServiceTest, DrainRefusesNewRequestsAndStopEndsTheRest) {
  const DbusServiceOptions options{.bus = suite_bus->address(),
                                   .bus_name = "org.mmd.Engine1.Stopping"};
  auto stopping = std::make_unique<DbusService>(*suite_engine, options);
  EngineClient client(suite_bus->address(), "org.mmd.Engine1.Stopping");
  const uint64_t id = client.StartCompletion(prompt_of(9), greedy(kLongRequest));
  ASSERT_TRUE(client.wait_first_delta(id, kDeadline));
  stopping->begin_drain();  // new requests are refused, the running one goes on
  EXPECT_EQ(error_of([&] { client.StartCompletion(prompt_of(3), greedy(2)); }),
            "org.mmd.Error.Unavailable");
  EXPECT_EQ(client.ActiveRequests(), 1u);
  stopping.reset();
  const auto finished = client.wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->reason, "cancelled");
  EXPECT_EQ(finished->message, "the D-Bus service is stopping");
  // The name was released: a new service can take it at once.
  stopping = std::make_unique<DbusService>(*suite_engine, options);
  EXPECT_EQ(client.State(), "ready");
  stopping.reset();
  expect_idle();
}

// The drain waits for the requests started over this service only, and is told by an event:
// another frontend's request (here the suite's service) still runs when it reports.
TEST_F(DbusServiceTest, DrainReportsWhenItsOwnRequestsEndNotTheEngines) {
  const DbusServiceOptions options{.bus = suite_bus->address(),
                                   .bus_name = "org.mmd.Engine1.Draining"};
  auto draining = std::make_unique<DbusService>(*suite_engine, options);
  EngineClient client(suite_bus->address(), "org.mmd.Engine1.Draining");
  const uint64_t other = client_->StartCompletion(prompt_of(9), greedy(kLongRequest));
  ASSERT_TRUE(client_->wait_first_delta(other, kDeadline));
  const uint64_t own = client.StartCompletion(prompt_of(7), greedy(kLongRequest));
  ASSERT_TRUE(client.wait_first_delta(own, kDeadline));
  std::promise<void> drained;
  std::future<void> reported = drained.get_future();
  draining->begin_drain([&] { drained.set_value(); });
  EXPECT_EQ(reported.wait_for(200ms), std::future_status::timeout) << "its own request runs";
  client.Cancel(own);
  ASSERT_TRUE(client.wait_finished(own, kDeadline));
  ASSERT_EQ(reported.wait_for(kDeadline), std::future_status::ready);
  EXPECT_FALSE(client_->wait_finished(other, 0ms)) << "the other frontend's request still runs";
  client_->Cancel(other);
  ASSERT_TRUE(client_->wait_finished(other, kDeadline));
  draining.reset();
  expect_idle();
}

// State follows the engine with no bus message to prompt it (no refresh timer either): a
// sleep and a wake asked of the engine directly are announced.
TEST_F(DbusServiceTest, StateFollowsTheEngineWithoutABusMessage) {
  suite_engine->sleep(1, "the test");
  ASSERT_TRUE(client_->wait_state("sleeping", kDeadline));
  suite_engine->wake("the test");
  ASSERT_TRUE(client_->wait_state("ready", kDeadline));
  EXPECT_EQ(client_->State(), "ready");
}

// The engine's status has no change event: poll it, bounded by the deadline.
bool engine_until(const Engine& engine, const std::function<bool(const EngineStatus&)>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!done(engine.status())) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(DbusServiceBusLoss, RequestsEndAndTheServiceStopsWhenTheBusGoesAway) {
  if (std::system("command -v dbus-daemon >/dev/null && command -v busctl >/dev/null") != 0)
    GTEST_SKIP() << "needs dbus-daemon and busctl";
  char dir_template[] = "/tmp/mmd-dbus-loss.XXXXXX";
  const std::filesystem::path dir = mkdtemp(dir_template);
  auto bus = std::make_unique<PrivateBus>(dir);
  Engine engine(tiny_engine_options());
  ASSERT_TRUE(engine.wait_ready(kDeadline));
  DbusService service(engine, DbusServiceOptions{.bus = bus->address()});
  // busctl waits for Complete's reply, so its request stays owned by a live connection.
  testing::Child caller({"busctl", "--address=" + bus->address(), "--timeout=120", "call",
                         "org.mmd.Engine1", "/org/mmd/Engine1", "org.mmd.Engine1", "Complete",
                         "aia{sv}", "2", "11", "22", "2", "max_tokens", "i",
                         std::to_string(kLongRequest), "ignore_eos", "b", "true"});
  ASSERT_TRUE(engine_until(engine, [](const EngineStatus& s) { return s.num_running == 1; }));
  bus.reset();  // dbus-daemon is terminated and reaped
  EXPECT_TRUE(engine_until(engine, [](const EngineStatus& s) {
    return s.num_running == 0 && s.num_kv_blocks_used == 0;
  })) << "the request outlived the bus";
  EXPECT_TRUE(caller.wait(kDeadline).has_value());
  std::filesystem::remove_all(dir);
}  // ~DbusService joins a thread that has already left its loop

// A stand-in for the text layer: "11 22 33" encodes to those ids, each token decodes to
// "<id>", a chat renders to 5 6 7, and the stream holds back "|end" until the request finishes.
class FakeTextAdapter final : public TextAdapter {
 public:
  std::vector<int32_t> encode_prompt(const std::string& text) override {
    std::vector<int32_t> ids;
    std::istringstream in(text);
    std::string word;
    while (in >> word) {
      if (word.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument("not a token id: '" + word + "'");
      ids.push_back(std::stoi(word));
    }
    return ids;
  }
  text::ChatPrompt render_chat(const text::ChatRequest& request) override {
    if (request.messages.empty()) throw std::invalid_argument("no messages");
    return text::ChatPrompt{.text = "x", .token_ids = {5, 6, 7}, .forced_opening = {}};
  }
  std::unique_ptr<TextStream> open_stream(const TextStreamOptions& options) override {
    class Stream final : public TextStream {
     public:
      explicit Stream(bool chat) : chat_(chat) {}
      void push(std::span<const int32_t> ids, ipc::Delta& out) override {
        // Chats: the text goes to content and the reasoning field says how many tokens.
        for (int32_t id : ids)
          out.text += "<" + std::to_string(id) + ">";
        if (chat_) out.reasoning += "r";
      }
      void finish(ipc::Delta& out) override { out.text += "|end"; }
      bool stop_matched() const override { return false; }

     private:
      bool chat_;
    };
    return std::make_unique<Stream>(options.chat != nullptr);
  }
};

TEST_F(DbusServiceTest, TextCodecFeedsTextPromptsChatsAndDeltaText) {
  SamplingParams defaults;  // the model's generation defaults; options apply over them
  defaults.max_tokens = 2;
  defaults.temperature = 0.0f;
  defaults.ignore_eos = true;
  DbusService text_service(*suite_engine,
                           DbusServiceOptions{.bus = suite_bus->address(),
                                              .bus_name = "org.mmd.Engine1.WithText",
                                              .model = "tiny",
                                              .text = std::make_shared<FakeTextAdapter>(),
                                              .defaults = defaults});
  EngineClient client(suite_bus->address(), "org.mmd.Engine1.WithText");
  const uint64_t id = client.StartTextCompletion("11 22 33", greedy(4));
  const auto finished = client.wait_finished(id, kDeadline);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->prompt_tokens, 3u);
  const std::vector<int32_t> tokens = client.tokens(id);
  ASSERT_EQ(tokens.size(), 4u);
  std::string expected;
  for (int32_t token : tokens)
    expected += "<" + std::to_string(token) + ">";
  EXPECT_EQ(client.text(id), expected + "|end");
  const auto [same_tokens, text, reason] = client.Complete({11, 22, 33}, greedy(4));
  EXPECT_EQ(same_tokens, tokens);
  EXPECT_EQ(text, expected + "|end");

  const uint64_t chat = client.StartChat(R"([{"role":"user","content":"hi"}])", {});
  const auto chat_finished = client.wait_finished(chat, kDeadline);
  ASSERT_TRUE(chat_finished);
  EXPECT_EQ(chat_finished->prompt_tokens, 3u);
  EXPECT_EQ(chat_finished->completion_tokens, 2u);  // max_tokens from the defaults
  EXPECT_EQ(chat_finished->reason, "length");
  // A chat's output comes as ChatDelta (content and reasoning apart), never as Delta.
  const testing::ChatOutput out = client.chat(chat);
  ASSERT_EQ(out.token_ids.size(), 2u);
  EXPECT_EQ(out.content, "<" + std::to_string(out.token_ids[0]) + "><" +
                             std::to_string(out.token_ids[1]) + ">|end");
  EXPECT_EQ(out.reasoning, "rr");  // the stream is fed one token at a time
  EXPECT_EQ(client.num_deltas(chat), 0);
  EXPECT_EQ(client.TokenizeChat(R"([{"role":"user","content":"hi"}])", {}),
            (std::vector<int32_t>{5, 6, 7}));
  std::string message;
  EXPECT_EQ(error_of([&] { client.StartTextCompletion("11 x", {}); }, &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  EXPECT_EQ(error_of([&] { client.StartChat("{}", {}); }), "org.mmd.Error.InvalidArgument");
  // Bad history is the caller's error, naming the field, before any template runs.
  EXPECT_EQ(error_of(
                [&] {
                  client.StartChat(
                      R"([{"role":"user","content":"q"},{"role":"assistant","tool_calls":
                [{"id":"c","type":"function","function":{"name":"f","arguments":5}}]}])",
                      {});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("messages[1].tool_calls[0].function.arguments"), std::string::npos)
      << message;
  EXPECT_EQ(
      error_of([&] { client.TokenizeChat(R"([{"role":"wizard","content":"q"}])", {}); }, &message),
      "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("messages[0].role"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client.TokenizeChat(R"([{"role":"user","content":"q"}])",
                                      {{"tools", sdbus::Variant(std::string("[1"))}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("'tools'"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client.TokenizeChat(R"([{"role":"user","content":"q"}])",
                                      {{"tool_choice", sdbus::Variant(std::string("required"))}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("tool_choice"), std::string::npos) << message;
}

// Integer options in any D-Bus integer type, reals as d or an integer; the limits are the ones
// every frontend shares (to_sampling_params), and chat-only keys are refused elsewhere.
TEST_F(DbusServiceTest, OptionsTakeEveryIntegerTypeAndTheSharedLimits) {
  const std::vector<sdbus::Variant> eights = {
      sdbus::Variant(uint8_t{8}), sdbus::Variant(int16_t{8}),  sdbus::Variant(uint16_t{8}),
      sdbus::Variant(int32_t{8}), sdbus::Variant(uint32_t{8}), sdbus::Variant(int64_t{8}),
      sdbus::Variant(uint64_t{8})};
  for (const sdbus::Variant& eight : eights) {
    const std::string type = eight.peekValueType();
    const uint64_t id =
        client_->StartCompletion(prompt_of(5), {{"max_tokens", eight},
                                                {"temperature", sdbus::Variant(int32_t{0})},
                                                {"seed", eight},
                                                {"top_k", eight},
                                                {"ignore_eos", sdbus::Variant(true)}});
    const auto finished = client_->wait_finished(id, kDeadline);
    ASSERT_TRUE(finished) << type;
    EXPECT_EQ(finished->completion_tokens, 8u) << type;
  }
  std::string message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3),
                                           {{"max_tokens", sdbus::Variant(uint64_t{1} << 40)}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("max_tokens"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3), {{"top_p", sdbus::Variant(1.5)}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("top_p"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3), {{"temperature", sdbus::Variant(-1.0)}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("temperature"), std::string::npos) << message;
  EXPECT_EQ(error_of(
                [&] {
                  client_->StartCompletion(prompt_of(3),
                                           {{"temperature", sdbus::Variant(std::string("0"))}});
                },
                &message),
            "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("temperature"), std::string::npos) << message;
  EXPECT_EQ(
      error_of(
          [&] {
            client_->StartCompletion(prompt_of(3), {{"tools", sdbus::Variant(std::string("[]"))}});
          },
          &message),
      "org.mmd.Error.InvalidArgument");
  EXPECT_NE(message.find("StartChat"), std::string::npos) << message;
  // Stop strings need the tokenizer, which this service has not.
  EXPECT_EQ(error_of([&] {
              client_->StartCompletion(prompt_of(3), {{"stop", sdbus::Variant(std::string("x"))}});
            }),
            "org.mmd.Error.NotSupported");
  expect_idle();
}

TEST_F(DbusServiceTest, ModelIsAnAbsolutePath) {
  DbusService relative(*suite_engine, DbusServiceOptions{.bus = suite_bus->address(),
                                                         .bus_name = "org.mmd.Engine1.Relative",
                                                         .model = "models/../models/tiny"});
  EngineClient client(suite_bus->address(), "org.mmd.Engine1.Relative");
  EXPECT_EQ(client.Model(), (std::filesystem::current_path() / "models/tiny").string());
}

}  // namespace
}  // namespace mm

// The msgpack codec: every message survives a round trip, and bad frames fail with an error
// that names the field (or the byte problem), never a crash.
#include <gtest/gtest.h>

#include "ipc/codec.h"

namespace mm::ipc {
namespace {

TEST(Codec, SubmitRoundTripKeepsEveryField) {
  Submit submit;
  submit.messages = {ChatMessage{"system", "be brief", "", "", "", ""},
                     ChatMessage{"assistant", "", "thinking", R"([{"id":"c1"}])", "", ""},
                     ChatMessage{"tool", "42", "", "", "c1", "calc"}};
  submit.sampling.temperature = 0.5f;
  submit.sampling.top_k = 40;
  submit.sampling.seed = 1234567890123ull;
  submit.sampling.max_tokens = 17;
  submit.sampling.stop_token_ids = {2, 3};
  submit.sampling.stop = {"</s>"};
  submit.sampling.logprobs = 5;
  submit.sampling.logit_bias = {{7, -1.5f}};
  submit.tools_json = {R"({"type":"function","function":{"name":"calc"}})"};
  submit.tool_choice = "auto";
  submit.add_generation_prompt = false;
  submit.priority = -3;
  const ClientFrame decoded = decode_client_frame(encode(ClientFrame{99, submit}));
  EXPECT_EQ(decoded.id, 99u);
  const auto& s = std::get<Submit>(decoded.message);
  ASSERT_EQ(s.messages.size(), 3u);
  EXPECT_EQ(s.messages[1].reasoning_content, "thinking");
  EXPECT_EQ(s.messages[1].tool_calls_json, R"([{"id":"c1"}])");
  EXPECT_EQ(s.messages[2].tool_call_id, "c1");
  EXPECT_EQ(s.sampling.temperature, 0.5f);
  EXPECT_EQ(s.sampling.top_k, 40);
  EXPECT_FALSE(s.sampling.top_p.has_value());
  EXPECT_EQ(s.sampling.seed, 1234567890123ull);
  EXPECT_EQ(s.sampling.max_tokens, 17);
  EXPECT_EQ(s.sampling.stop_token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(s.sampling.stop, (std::vector<std::string>{"</s>"}));
  EXPECT_EQ(s.sampling.logprobs, 5);
  ASSERT_EQ(s.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(s.sampling.logit_bias[0].second, -1.5f);
  EXPECT_EQ(s.tools_json, submit.tools_json);
  EXPECT_EQ(s.tool_choice, "auto");
  EXPECT_FALSE(s.add_generation_prompt);
  EXPECT_EQ(s.priority, -3);
}

TEST(Codec, ServerMessagesRoundTrip) {
  Delta delta;
  delta.token_ids = {5, 6};
  delta.text = "hé";
  delta.reasoning = "hmm";
  delta.tool_calls = {ToolCallDelta{1, "call_1", "calc", R"({"x":)"}};
  delta.logprobs = {TokenLogprobs{5, -0.25f, {{5, -0.25f}, {9, -2.0f}}}};
  const auto d = std::get<Delta>(decode_server_frame(encode(ServerFrame{3, delta})).message);
  EXPECT_EQ(d.token_ids, delta.token_ids);
  EXPECT_EQ(d.text, "hé");
  EXPECT_EQ(d.reasoning, "hmm");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].arguments, R"({"x":)");
  ASSERT_EQ(d.logprobs.size(), 1u);
  EXPECT_EQ(d.logprobs[0].top[1].first, 9);

  const auto f = std::get<Finished>(
      decode_server_frame(encode(ServerFrame{3, Finished{"cancelled", "why", {10, 4, 8}}}))
          .message);
  EXPECT_EQ(f.reason, "cancelled");
  EXPECT_EQ(f.usage.cached_prompt_tokens, 8);

  const auto e = std::get<Error>(
      decode_server_frame(encode(ServerFrame{0, Error{ErrorCode::kSlowReader, "slow"}})).message);
  EXPECT_EQ(e.code, ErrorCode::kSlowReader);

  StatusReply status;
  status.state = "ready";
  status.num_kv_blocks_used = 12;
  status.time_to_first_token = Histogram{{0.1, 1.0}, {1, 2, 3}, 4.5, 6};
  status.kv_cache_dtype = "fp8_e4m3";
  status.load_bytes_done = 5'000'000'000;  // past 32 bits, as a big checkpoint's are
  status.load_bytes_total = 230'000'000'000;
  status.settings = {{"kv_cache_dtype", "fp8_e4m3", "checkpoint"}, {"max_num_seqs", "8", "config"}};
  status.kv_tiers = {{"host", 1 << 30, 3, 300, 1, 4, 1, 0},
                     {"disk", 8'000'000'000, 7, 700, 2, 9, 0, 5}};
  status.kv_tier_restored_tokens_total = 48;
  const auto s = std::get<StatusReply>(decode_server_frame(encode(ServerFrame{1, status})).message);
  EXPECT_EQ(s.state, "ready");
  EXPECT_EQ(s.kv_cache_dtype, "fp8_e4m3");
  ASSERT_EQ(s.settings.size(), 2u);
  EXPECT_EQ(s.settings[0].name, "kv_cache_dtype");
  EXPECT_EQ(s.settings[0].source, "checkpoint");
  EXPECT_EQ(s.settings[1].value, "8");
  EXPECT_EQ(s.settings[1].source, "config");
  ASSERT_EQ(s.kv_tiers.size(), 2u);
  EXPECT_EQ(s.kv_tiers[1].name, "disk");
  EXPECT_EQ(s.kv_tiers[1].budget_bytes, 8'000'000'000u);
  EXPECT_EQ(s.kv_tiers[1].num_blocks, 7u);
  EXPECT_EQ(s.kv_tiers[1].rejected_total, 5u);
  EXPECT_EQ(s.kv_tiers[0].hits_total, 1u);
  EXPECT_EQ(s.kv_tier_restored_tokens_total, 48u);
  EXPECT_EQ(s.num_kv_blocks_used, 12);
  EXPECT_EQ(s.time_to_first_token.counts, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(s.time_to_first_token.count, 6u);
  EXPECT_EQ(s.load_bytes_done, 5'000'000'000u);
  EXPECT_EQ(s.load_bytes_total, 230'000'000'000u);

  for (const ClientMessage& m :
       {ClientMessage{Cancel{}}, ClientMessage{StatusQuery{}}, ClientMessage{SleepCommand{2}},
        ClientMessage{WakeCommand{}}, ClientMessage{ClearCacheCommand{}},
        ClientMessage{Hello{1, "x"}}}) {
    EXPECT_EQ(decode_client_frame(encode(ClientFrame{1, m})).message.index(), m.index());
  }
}

void expect_error(const std::string& bytes, const std::string& needle) {
  try {
    decode_client_frame(bytes);
    ADD_FAILURE() << "decoded; expected an error containing '" << needle << "'";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

TEST(Codec, BadFramesNameTheProblem) {
  expect_error("", "not valid msgpack");
  expect_error("\xc1", "not valid msgpack");
  expect_error("\x92\x01\x02", "expected [type, id, body], got 2 elements");
  expect_error("\x93\x63\x01\x80", "frame type 99 is not a client message");
  expect_error("\x93\x02\xa1x\x80", "frame.id: expected an unsigned integer, got a string");
  expect_error("\x93\x02\x01\x81\xa8priority\xa1x", "Submit.priority: expected an integer");
  expect_error("\x93\x05\x01\x81\xa5level\x07", "Sleep.level: integer 7 outside [1, 2]");
  expect_error("\x93\x02\x01\x81\xb0prompt_token_ids\x91\xa1x",
               "Submit.prompt_token_ids[0]: expected an integer");
  // A forged array header claiming 2^32-1 elements must fail without allocating them.
  expect_error("\x93\x02\x01\x81\xb0prompt_token_ids\xdd\xff\xff\xff\xff", "not valid msgpack");
  expect_error(encode(ClientFrame{1, Hello{}}) + "x", "1 trailing bytes");
}

}  // namespace
}  // namespace mm::ipc

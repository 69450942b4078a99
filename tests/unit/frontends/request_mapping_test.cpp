// The checks every frontend shares. One out-of-range value is read by each frontend's own
// reader (HTTP's JSON body, shm's msgpack Submit, D-Bus's a{sv} options) and must be refused
// by the one check, with the same message naming the field. Then fit_request_to_model: the
// prompt truncated, bad_words tokenized by vLLM's rule, allowed_token_ids against the
// vocabulary, max_tokens against the context.
#include "daemon/frontends/request_mapping.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "daemon/frontends/http/openai_request.h"
#include "ipc/codec.h"
#ifdef MMD_TEST_DBUS
#include "daemon/frontends/dbus/dbus_convert.h"
#endif

namespace mm {
namespace {

#ifdef MMD_TEST_DBUS
using DbusValue = sdbus::Variant;
#else
struct DbusValue {};  // this build has no D-Bus frontend
#endif
DbusValue d(double v) {
#ifdef MMD_TEST_DBUS
  return sdbus::Variant(v);
#else
  return (void)v, DbusValue{};
#endif
}
DbusValue i(int32_t v) {
#ifdef MMD_TEST_DBUS
  return sdbus::Variant(v);
#else
  return (void)v, DbusValue{};
#endif
}

struct BadValue {
  std::string json;                                // the field as an OpenAI body writes it
  std::function<void(ipc::SamplingOptions&)> set;  // the same value in a shm Submit
  std::string dbus_key;                            // and as a D-Bus option
  DbusValue dbus_value;
  std::string field;
  std::string message;
};

std::vector<BadValue> bad_values() {
  using O = ipc::SamplingOptions;
  return {
      {"\"temperature\": 3", [](O& o) { o.temperature = 3.0f; }, "temperature", d(3.0),
       "temperature", "'temperature' must be in [0, 2], got 3"},
      {"\"temperature\": -0.5", [](O& o) { o.temperature = -0.5f; }, "temperature", d(-0.5),
       "temperature", "'temperature' must be in [0, 2], got -0.5"},
      {"\"top_p\": 0", [](O& o) { o.top_p = 0.0f; }, "top_p", d(0.0), "top_p",
       "'top_p' must be in (0, 1], got 0"},
      {"\"top_p\": 1.5", [](O& o) { o.top_p = 1.5f; }, "top_p", d(1.5), "top_p",
       "'top_p' must be in (0, 1], got 1.5"},
      {"\"top_k\": -2", [](O& o) { o.top_k = -2; }, "top_k", i(-2), "top_k",
       "'top_k' must be 0 (disable), or at least 1, got -2"},
      {"\"min_p\": 1.5", [](O& o) { o.min_p = 1.5f; }, "min_p", d(1.5), "min_p",
       "'min_p' must be in [0, 1], got 1.5"},
      {"\"repetition_penalty\": 0", [](O& o) { o.repetition_penalty = 0.0f; }, "repetition_penalty",
       d(0.0), "repetition_penalty", "'repetition_penalty' must be greater than zero, got 0"},
      {"\"frequency_penalty\": 2.5", [](O& o) { o.frequency_penalty = 2.5f; }, "frequency_penalty",
       d(2.5), "frequency_penalty", "'frequency_penalty' must be in [-2, 2], got 2.5"},
      {"\"presence_penalty\": -3", [](O& o) { o.presence_penalty = -3.0f; }, "presence_penalty",
       d(-3.0), "presence_penalty", "'presence_penalty' must be in [-2, 2], got -3"},
      {"\"max_tokens\": 0", [](O& o) { o.max_tokens = 0; }, "max_tokens", i(0), "max_tokens",
       "'max_tokens' must be at least 1, got 0"},
      {"\"min_tokens\": -1", [](O& o) { o.min_tokens = -1; }, "min_tokens", i(-1), "min_tokens",
       "'min_tokens' must be greater than or equal to 0, got -1"},
      {"\"max_tokens\": 2, \"min_tokens\": 5",
       [](O& o) {
         o.max_tokens = 2;
         o.min_tokens = 5;
       },
       "min_tokens", i(5), "min_tokens", "'min_tokens' must be less than or equal to max_tokens="},
  };
}

const std::string kChat = R"("messages": [{"role": "user", "content": "x"}])";

TEST(SamplingLimits, OneCheckWhateverTheWire) {
  SamplingParams defaults;
  defaults.max_tokens = 4;  // the D-Bus min_tokens case sets no max_tokens: 5 > 4
  for (const BadValue& bad : bad_values()) {
    SCOPED_TRACE(bad.json);
    // HTTP: both endpoints' readers take the value (types only); the check refuses it.
    for (const bool chat : {true, false}) {
      const std::string body =
          chat ? "{" + kChat + ", " + bad.json + "}" : "{\"prompt\": \"x\", " + bad.json + "}";
      const http::GenerationRequest r =
          chat ? http::parse_chat_request(body) : http::parse_completion_request(body);
      SamplingParams params;
      const auto error = sampling_params_from(r.sampling, defaults, params);
      ASSERT_TRUE(error);
      EXPECT_EQ(error->field, bad.field);
      EXPECT_EQ(error->message.substr(0, bad.message.size()), bad.message);
    }
    // shm: the Submit through the codec, as the daemon decodes it.
    ipc::Submit submit;
    submit.prompt_token_ids = {1, 2, 3};
    bad.set(submit.sampling);
    const std::string bytes = ipc::encode(ipc::ClientFrame{7, submit});
    const ipc::ClientFrame decoded = ipc::decode_client_frame(bytes);
    SamplingParams params;
    const auto message =
        to_sampling_params(std::get<ipc::Submit>(decoded.message).sampling, defaults, params);
    ASSERT_TRUE(message);
    EXPECT_EQ(message->substr(0, bad.message.size()), bad.message);
#ifdef MMD_TEST_DBUS
    // D-Bus: the a{sv} options, as StartGeneration reads them.
    const DbusRequestOptions options =
        options_from_dbus(DbusOptions{{bad.dbus_key, bad.dbus_value}}, false);
    try {
      request_from_dbus({1, 2, 3}, options, defaults);
      ADD_FAILURE() << "D-Bus accepted " << bad.json;
    } catch (const sdbus::Error& error) {
      EXPECT_NE(error.getMessage().find(bad.message), std::string::npos) << error.getMessage();
    }
#endif
  }
}

TEST(SamplingLimits, InRangeValuesPassAndApplyOverTheDefaults) {
  const http::GenerationRequest r = http::parse_chat_request(
      "{" + kChat +
      R"(, "temperature": 2, "top_p": 1, "top_k": -1, "min_p": 0, "repetition_penalty": 1.5,
          "frequency_penalty": -2, "presence_penalty": 2, "logit_bias": {"5": 250}})");
  SamplingParams defaults;
  defaults.temperature = 0.7f;
  defaults.max_tokens = 99;
  SamplingParams p;
  ASSERT_FALSE(sampling_params_from(r.sampling, defaults, p));
  EXPECT_EQ(p.temperature, 2.0f);
  EXPECT_EQ(p.top_k, -1);
  EXPECT_EQ(p.max_tokens, 99);
  EXPECT_EQ(p.logit_bias.at(5), 100.0f);  // clamped to [-100, 100] as vLLM does
  // The reader still refuses what is not a number, naming the field.
  try {
    http::parse_chat_request("{" + kChat + R"(, "temperature": "hot"})");
    ADD_FAILURE();
  } catch (const http::ApiError& e) {
    EXPECT_EQ(e.param(), "temperature");
  }
}

// Token ids for a few words; a word with a leading space is another token, as in byte-level
// BPE vocabularies.
class WordAdapter : public TextAdapter {
 public:
  std::vector<int32_t> encode_prompt(const std::string& text) override {
    static const std::map<std::string, std::vector<int32_t>> kIds = {
        {"cat", {10}}, {" cat", {11}},   {"big dog", {20, 21}}, {" big dog", {22, 21}},
        {"x", {30}},   {" x", {31, 32}}, {"same", {40}},        {" same", {40}}};
    const auto it = kIds.find(text);
    return it == kIds.end() ? std::vector<int32_t>{} : it->second;
  }
  text::ChatPrompt render_chat(const text::ChatRequest&) override { return {}; }
  std::unique_ptr<TextStream> open_stream(const TextStreamOptions&) override { return nullptr; }
};

EngineRequest request_of(int prompt_len, int default_max_tokens = 256) {
  EngineRequest request;
  for (int i = 0; i < prompt_len; ++i)
    request.prompt_token_ids.push_back(100 + i);
  request.params.max_tokens = default_max_tokens;
  return request;
}

TEST(FitRequestToModel, BadWordsWithAndWithoutALeadingSpace) {
  WordAdapter words;
  ipc::SamplingOptions o;
  o.bad_words = {"cat", "  big dog", "x", "same"};
  EngineRequest request = request_of(3);
  ASSERT_FALSE(fit_request_to_model(o, {}, &words, "prompt", request));
  // " x" is two tokens where "x" is one, and " same" is the same token: neither is added.
  EXPECT_EQ(request.params.bad_words_token_ids,
            (std::vector<std::vector<int32_t>>{{10}, {11}, {20, 21}, {22, 21}, {30}, {40}}));
  o.bad_words = {"unknown"};
  const auto empty = fit_request_to_model(o, {}, &words, "prompt", request);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->field, "bad_words");
  const auto no_tokenizer = fit_request_to_model(o, {}, nullptr, "prompt", request);
  ASSERT_TRUE(no_tokenizer);
  EXPECT_NE(no_tokenizer->message.find("needs the tokenizer"), std::string::npos);
  o.bad_words = {"cat"};
  const auto outside = fit_request_to_model(o, {.vocab_size = 11}, &words, "prompt", request);
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->field, "bad_words");
}

TEST(FitRequestToModel, AllowedTokenIdsMustBeInTheVocabulary) {
  ipc::SamplingOptions o;
  o.allowed_token_ids = {3, 99};
  EngineRequest request = request_of(3);
  ASSERT_FALSE(fit_request_to_model(o, {.vocab_size = 100}, nullptr, "prompt", request));
  o.allowed_token_ids = {3, 100};
  const auto error = fit_request_to_model(o, {.vocab_size = 100}, nullptr, "prompt", request);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "allowed_token_ids");
  EXPECT_NE(error->message.find("out-of-vocabulary token id 100"), std::string::npos);
  // Negative ids are the sampling check's.
  o.allowed_token_ids = {-1};
  const auto negative = check_sampling_options(o);
  ASSERT_TRUE(negative);
  EXPECT_EQ(negative->field, "allowed_token_ids");
}

TEST(FitRequestToModel, TruncatePromptTokensKeepsTheLastOnes) {
  ipc::SamplingOptions o;
  o.truncate_prompt_tokens = 4;
  EngineRequest request = request_of(10);
  ASSERT_FALSE(fit_request_to_model(o, {.max_model_len = 16}, nullptr, "prompt", request));
  EXPECT_EQ(request.prompt_token_ids, (std::vector<int32_t>{106, 107, 108, 109}));
  // -1: the last max_model_len tokens (vLLM's), which leaves no room to generate: the
  // refusal counts the truncated prompt.
  o.truncate_prompt_tokens = -1;
  request = request_of(20);
  const auto no_room = fit_request_to_model(o, {.max_model_len = 16}, nullptr, "prompt", request);
  ASSERT_TRUE(no_room);
  EXPECT_EQ(request.prompt_token_ids.size(), 16u);
  EXPECT_EQ(request.prompt_token_ids.front(), 104);
  EXPECT_NE(no_room->message.find("your request has 16 input tokens"), std::string::npos);
  request = request_of(10);
  ASSERT_FALSE(fit_request_to_model(o, {.max_model_len = 16}, nullptr, "prompt", request));
  EXPECT_EQ(request.prompt_token_ids.size(), 10u);
  o.truncate_prompt_tokens = 17;
  const auto error = fit_request_to_model(o, {.max_model_len = 16}, nullptr, "prompt", request);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "truncate_prompt_tokens");
  EXPECT_EQ(error->message,
            "'truncate_prompt_tokens' (17) is greater than max_model_len (16). Please, "
            "select a smaller truncation size.");
  o.truncate_prompt_tokens = 0;
  ASSERT_TRUE(check_sampling_options(o));
}

TEST(FitRequestToModel, MaxTokensBeyondTheContextIsRefusedAnUnsetOneCapped) {
  ipc::SamplingOptions o;
  o.max_tokens = 7;
  EngineRequest request = request_of(10);
  const auto error = fit_request_to_model(o, {.max_model_len = 16}, nullptr, "messages", request);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->field, "max_tokens");
  EXPECT_EQ(error->message,
            "'max_tokens' is too large: 7. This model's maximum context length is 16 tokens. "
            "However, you requested 17 tokens (10 in the messages, 7 in the completion). Please "
            "reduce the length of the messages or completion.");
  o.max_tokens = 6;
  request = request_of(10);
  request.params.max_tokens = 6;
  ASSERT_FALSE(fit_request_to_model(o, {.max_model_len = 16}, nullptr, "messages", request));
  EXPECT_EQ(request.params.max_tokens, 6);
  // Unset: the generation default, capped to what the context leaves (vLLM's default).
  o.max_tokens.reset();
  request = request_of(10, 256);
  ASSERT_FALSE(fit_request_to_model(o, {.max_model_len = 16}, nullptr, "messages", request));
  EXPECT_EQ(request.params.max_tokens, 6);
  request = request_of(16);
  const auto full = fit_request_to_model(o, {.max_model_len = 16}, nullptr, "messages", request);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->field, "messages");
  EXPECT_NE(full->message.find("your request has 16 input tokens"), std::string::npos);
  // Truncation comes first: a long prompt cut to fit is no error.
  o.truncate_prompt_tokens = 8;
  o.max_tokens = 8;
  request = request_of(40);
  ASSERT_FALSE(fit_request_to_model(o, {.max_model_len = 16}, nullptr, "messages", request));
  EXPECT_EQ(request.prompt_token_ids.size(), 8u);
}

}  // namespace
}  // namespace mm

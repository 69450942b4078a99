// A /v1/completions request with several prompts (a list of strings or of token-id lists, as
// lm-eval sends its batches): one engine request per prompt, answered together once the last
// one ends, choices in prompt order, usage summed. Loop thread only.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/engine/request.h"
#include "daemon/frontends/http/http_server.h"

namespace mm::http {

struct CompletionBatch {
  HttpConnection* connection = nullptr;  // null once the client is gone
  HeaderList cors;
  std::string id;
  int64_t created = 0;
  bool return_token_ids = false;
  std::vector<uint64_t> keys;           // each prompt's exchange, in prompt order
  std::vector<nlohmann::json> choices;  // filled as they end
  size_t num_pending = 0;
  Usage usage;        // summed
  std::string error;  // the first prompt that failed: the batch answers it
  bool failed = false;
  bool answered = false;
};

}  // namespace mm::http

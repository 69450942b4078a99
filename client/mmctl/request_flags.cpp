#include "client/mmctl/request_flags.h"

#include <sstream>
#include <stdexcept>

#include "client/mmctl/daemon_session.h"

namespace mm {

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    out.push_back(parse_int_flag("token id", item));
  }
  if (out.empty()) throw std::invalid_argument("no token ids in '" + text + "'");
  return out;
}

bool take_sampling_flag(const std::vector<std::string>& args, size_t& i,
                        ipc::SamplingOptions& s) {
  const std::string& flag = args[i];
  if (flag == "--max-tokens") {
    s.max_tokens = parse_int_flag(flag, flag_value(args, i, flag));
  } else if (flag == "--temperature") {
    s.temperature = static_cast<float>(parse_double_flag(flag, flag_value(args, i, flag)));
  } else if (flag == "--top-p") {
    s.top_p = static_cast<float>(parse_double_flag(flag, flag_value(args, i, flag)));
  } else if (flag == "--top-k") {
    s.top_k = parse_int_flag(flag, flag_value(args, i, flag));
  } else if (flag == "--min-p") {
    s.min_p = static_cast<float>(parse_double_flag(flag, flag_value(args, i, flag)));
  } else if (flag == "--seed") {
    s.seed = static_cast<uint64_t>(parse_int_flag(flag, flag_value(args, i, flag)));
  } else if (flag == "--ignore-eos") {
    s.ignore_eos = true;
  } else if (flag == "--logprobs") {
    s.logprobs = parse_int_flag(flag, flag_value(args, i, flag));
  } else if (flag == "--stop-token-ids") {
    s.stop_token_ids = parse_token_list(flag_value(args, i, flag));
  } else {
    return false;
  }
  return true;
}

}  // namespace mm

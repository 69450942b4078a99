// `mmctl bench [--concurrency N] [--num-requests M] [--prompt-tokens P] [--output-tokens O]
// [--json]`: drives the daemon with N concurrent clients, each running requests of P random
// prompt token ids and exactly O output tokens (ignore_eos), and reports output tokens/s, time
// to first token and inter-token latency percentiles, as the client sees them.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mm {

int run_bench_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mm

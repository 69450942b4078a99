#include "client/mmctl/usage.h"

#include "client/mmctl/request_flags.h"
#include "ipc/protocol.h"

namespace mm {

namespace {

constexpr const char* kSessionFlags =
    "  --socket PATH      the daemon's socket (default $MMD_SOCKET, else\n"
    "                     /run/mmd/mmd.sock)\n"
    "  --json             print the result as JSON\n"
    "  --timeout SECONDS  how long to wait for the daemon (default 30)\n"
    "  --progress WHEN    while it loads or wakes: auto (a bar on a terminal),\n"
    "                     always (off a terminal: a line every 2 s) or never\n";

constexpr const char* kExitCodes =
    "Exit codes: 0 ok, 1 bad checkpoint, 2 usage, 3 no daemon, 4 request failed,\n"
    "5 the daemon's model failed to load.\n";

}  // namespace

std::string overall_usage() {
  return std::string(
             "usage: mmctl COMMAND [ARGS]      (mmctl COMMAND --help: that command's flags)\n"
             "\n"
             "commands:\n"
             "  inspect [--json] CHECKPOINT_DIR   a checkpoint's architecture, precision map,\n"
             "                                    sizes and KV cost; validates it\n"
             "  status [--wait] [--json]          the daemon's model, state, KV use, requests\n"
             "  generate [PROMPT|-] [--tokens IDS] one completion, streamed (prompt from stdin\n"
             "           [--max-tokens N ...]      when '-' or absent)\n"
             "  chat [--system TEXT]              interactive chat: streamed, thinking dimmed,\n"
             "                                    tool calls shown, history kept (/reset,\n"
             "                                    /save, /load, /exit; Ctrl-C stops a reply)\n"
             "  bench [--concurrency N]           N clients; --num-requests, --prompt-tokens,\n"
             "                                    --output-tokens: tokens/s, TTFT and ITL\n"
             "                                    percentiles; --http URL: over the OpenAI API\n"
             "  sleep [--level 1|2]               free the KV cache and weights (2: also\n"
             "                                    unmap the checkpoint)\n"
             "  wake                              load the model again (progress bar)\n"
             "  cache [status|clear]              the KV tiers under the prefix cache (host,\n"
             "                                    disk); clear empties them\n"
             "  run CHECKPOINT_DIR --tokens IDS   greedy generation in-process on the CPU (no\n"
             "      [--max-tokens N] [--json]     daemon)\n"
             "  help, --help                      this text; --version: mmctl's version\n"
             "\n"
             "Commands that talk to mmd take --socket PATH (default $MMD_SOCKET or\n"
             "/run/mmd/mmd.sock), --json and --timeout SECONDS.\n") +
         kExitCodes;
}

std::string command_usage(std::string_view command) {
  if (command == "inspect") {
    return "usage: mmctl inspect [--json] CHECKPOINT_DIR\n"
           "\n"
           "Reads a Hugging Face checkpoint folder (its safetensors headers only) and prints\n"
           "the architecture, a precision map, sizes and the KV cost per token, then\n"
           "validates every tensor. No daemon needed; exit 1 when the checkpoint does not\n"
           "load.\n"
           "\n"
           "  --json  the report as one JSON object\n";
  }
  if (command == "status") {
    return std::string(
               "usage: mmctl status [--wait] [--json] [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "The daemon's model, state, KV-cache use, requests, token totals and latencies.\n"
               "\n"
               "  --wait             first wait while it loads or wakes (at most --timeout),\n"
               "                     with a bar: bytes read of the checkpoint, rate, ETA\n") +
           kSessionFlags;
  }
  if (command == "generate") {
    return std::string(
               "usage: mmctl generate [PROMPT|-] [--tokens IDS] [SAMPLING FLAGS] [--json]\n"
               "                      [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "One completion, streamed to standard output. The prompt is PROMPT, or standard\n"
               "input when PROMPT is '-' or absent.\n"
               "\n"
               "  --tokens 1,2,3     the prompt as token ids; the output is printed as token ids\n"
               "  --logprobs N       after the output, each generated token's log-probability\n"
               "                     and the N most likely tokens at its position\n"
               "sampling:\n") +
           kSamplingFlagsHelp + kSessionFlags;
  }
  if (command == "chat") {
    return std::string(
               "usage: mmctl chat [--system TEXT] [--tools FILE] [SAMPLING FLAGS] [--json]\n"
               "                  [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "An interactive chat: each input line is a user turn and the reply streams, its\n"
               "reasoning dimmed and set apart from the answer by a line, tool calls shown. The\n"
               "history is kept and sent with every turn.\n"
               "  /reset        clear the history (the system prompt stays)\n"
               "  /save FILE    write the conversation as JSON (OpenAI messages)\n"
               "  /load FILE    continue a saved conversation\n"
               "  /exit         leave (so does end of input)\n"
               "  Ctrl-C        while a reply streams: stop it; the conversation stays\n"
               "\n"
               "  --system TEXT  the system prompt\n"
               "  --tools FILE   tools the model may call: a JSON array of OpenAI tool objects;\n"
               "                 each call is shown and its result is read as the next input\n"
               "                 line (\"result of NAME>\"), then the model goes on\n"
               "sampling:\n") +
           kSamplingFlagsHelp + kSessionFlags;
  }
  if (command == "bench") {
    return std::string(
               "usage: mmctl bench [--concurrency N] [--num-requests M] [--prompt-tokens P]\n"
               "                   [--output-tokens O] [--http URL] [--json] [--socket PATH]\n"
               "\n"
               "N clients send M requests in all (default 4 per client) of P random prompt\n"
               "tokens and O output tokens each (greedy, end of sequence ignored), and report\n"
               "output tokens/s and TTFT, inter-token and end-to-end latency percentiles. A\n"
               "request that fails or ends in an error counts as failed; any failure: exit 4.\n"
               "\n"
               "  --concurrency N    clients at once (default 4)\n"
               "  --num-requests M   requests in all (default 4 * N)\n"
               "  --prompt-tokens P  prompt length (default 32)\n"
               "  --output-tokens O  tokens generated per request (default 64)\n"
               "  --http URL         the same load over the OpenAI API at URL\n"
               "                     (http://HOST:PORT), instead of shared memory\n") +
           kSessionFlags;
  }
  if (command == "sleep") {
    return std::string(
               "usage: mmctl sleep [--level 1|2] [--json] [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "Puts the daemon to sleep once its requests are done.\n"
               "\n"
               "  --level 1  free the KV cache and the repacked weights (default)\n"
               "  --level 2  also drop the checkpoint from memory\n") +
           kSessionFlags;
  }
  if (command == "cache") {
    return std::string(
               "usage: mmctl cache [status|clear] [--json] [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "The KV tiers under the daemon's prefix cache: host memory and disk\n"
               "(--kv-host-cache-bytes, --kv-disk-cache-bytes). status (the default) shows\n"
               "each tier's blocks, bytes, restores and evictions; clear empties both (the\n"
               "disk tier's files are deleted) and waits until the status shows them empty.\n"
               "\n") +
           kSessionFlags;
  }
  if (command == "wake") {
    return std::string(
               "usage: mmctl wake [--json] [--socket PATH] [--timeout SECONDS]\n"
               "\n"
               "Loads the model again, with a progress bar on a terminal.\n"
               "\n") +
           kSessionFlags;
  }
  if (command == "run") {
    return "usage: mmctl run CHECKPOINT_DIR --tokens IDS [--max-tokens N]\n"
           "                 [--kv-cache-dtype bf16|fp8|f32] [--threads N] [--json]\n"
           "\n"
           "Loads the checkpoint in this process on the CPU (no daemon) and generates\n"
           "greedily from the prompt IDS, for debugging the forward pass. Prints the\n"
           "generated ids, comma-separated; timings go to standard error.\n"
           "\n"
           "  --tokens 1,2,3       the prompt as token ids\n"
           "  --max-tokens N       tokens to generate (default 32)\n"
           "  --kv-cache-dtype T   bf16 (default), fp8 or f32\n"
           "  --threads N          CPU threads (default: one per CPU in the affinity mask)\n"
           "  --json               one JSON object: the ids, prefill and decode timings\n";
  }
  if (command == "help") return overall_usage();
  return {};
}

std::string version_text() {
  return std::string("mmctl ") + MMD_VERSION + " (client protocol " +
         std::to_string(ipc::kProtocolVersion) + ")\n";
}

}  // namespace mm

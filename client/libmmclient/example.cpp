// A minimal libmmclient program: prints the daemon's status, then streams one greedy
// completion of the token ids given on the command line.
//   mmclient-example 1 2 3        (socket: $MMD_SOCKET or /run/mmd/mmd.sock)
#include <cstdlib>
#include <iostream>

#include "client/libmmclient/mmclient.h"

int main(int argc, char** argv) {
  try {
    auto client = mm::client::Client::connect();
    const mm::ipc::StatusReply status = client->status();
    std::cout << "model " << status.model << ", state " << status.state << "\n";

    mm::ipc::Submit submit;
    for (int i = 1; i < argc; ++i)
      submit.prompt_token_ids.push_back(std::atoi(argv[i]));
    if (submit.prompt_token_ids.empty()) submit.prompt_token_ids = {1, 2, 3};
    submit.sampling.temperature = 0.0f;
    submit.sampling.max_tokens = 16;
    const uint64_t id = client->submit(submit);
    const auto outcome = client->stream(id, [](const mm::ipc::Delta& delta) {
      for (int32_t token : delta.token_ids)
        std::cout << token << ' ' << std::flush;
    });
    if (!outcome.ok) {
      std::cerr << "\nerror: " << outcome.error.message << "\n";
      return 1;
    }
    std::cout << "\n" << outcome.finished.reason << ", " << outcome.finished.usage.completion_tokens
              << " tokens\n";
  } catch (const mm::client::ClientError& error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
  return 0;
}

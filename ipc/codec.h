// The msgpack form of protocol.h. A frame is the array [type, id, body] where type is a small
// integer, id the client's uint64 and body a map with short string keys (listed in
// ipc/README.md). Unknown keys are ignored, so fields can be added without a version bump.
// Stateless; thread-safe.
#pragma once

#include <span>
#include <stdexcept>
#include <string>

#include "ipc/protocol.h"

namespace mm::ipc {

// A frame that does not decode. The message names the frame type and the field at fault
// ("Submit.sampling.temperature: expected a number, got a string").
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string encode(const ClientFrame& frame);
std::string encode(const ServerFrame& frame);
// Throw ProtocolError.
ClientFrame decode_client_frame(std::span<const char> bytes);
ServerFrame decode_server_frame(std::span<const char> bytes);

// The name of a message type as the README and the errors write it ("Submit").
const char* message_name(const ClientMessage& message);
const char* message_name(const ServerMessage& message);

}  // namespace mm::ipc

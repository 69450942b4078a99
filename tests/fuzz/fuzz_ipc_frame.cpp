// Fuzzes the protocol decoder with arbitrary frames, as a hostile client could write them into
// its ring: each input must decode or raise ProtocolError, never crash, hang or allocate
// without bound; a frame that decodes must survive a re-encode and decode unchanged in kind.
#include <cstdint>
#include <span>

#include "ipc/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  try {
    const mm::ipc::ClientFrame frame = mm::ipc::decode_client_frame(bytes);
    const mm::ipc::ClientFrame again = mm::ipc::decode_client_frame(mm::ipc::encode(frame));
    if (again.id != frame.id || again.message.index() != frame.message.index()) __builtin_trap();
  } catch (const mm::ipc::ProtocolError&) {
  }
  try {
    const mm::ipc::ServerFrame frame = mm::ipc::decode_server_frame(bytes);
    const mm::ipc::ServerFrame again = mm::ipc::decode_server_frame(mm::ipc::encode(frame));
    if (again.id != frame.id || again.message.index() != frame.message.index()) __builtin_trap();
  } catch (const mm::ipc::ProtocolError&) {
  }
  return 0;
}

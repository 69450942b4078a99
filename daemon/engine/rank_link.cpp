#include "daemon/engine/rank_link.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace mm {
namespace {

// Numbered from 1 in this order (a follower and its rank 0 are always the same build).
enum class Command : uint32_t {
  kLoad = 1,
  kForward,
  kDiscardKv,
  kUnload,
  kStop,
  kReadBlock,
  kWriteBlock
};

// Fixed-size header, then `payload_bytes` of payload in a second broadcast.
struct Header {
  uint32_t command = 0;
  uint32_t reserved = 0;
  uint64_t payload_bytes = 0;
  int64_t a = 0;
  int64_t b = 0;
};

// The runner settings rank 0 loads with (the engine derives some of them from its pool).
struct LoadSettings {
  int32_t kv_dtype = 0;
  int32_t block_size = 0;
  int64_t num_kv_blocks = 0;
  int32_t runtime_activation_quant = 0;
  int32_t reserved = 0;
};

class Writer {
 public:
  template <class T>
  void vector(const std::vector<T>& v) {
    scalar(static_cast<uint64_t>(v.size()));
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    bytes_.insert(bytes_.end(), p, p + v.size() * sizeof(T));
  }
  template <class T>
  void scalar(T value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class Reader {
 public:
  explicit Reader(const std::vector<std::byte>& bytes) : bytes_(bytes) {}
  template <class T>
  T scalar() {
    T value{};
    take(&value, sizeof(T));
    return value;
  }
  template <class T>
  std::vector<T> vector() {
    std::vector<T> v(static_cast<size_t>(scalar<uint64_t>()));
    take(v.data(), v.size() * sizeof(T));
    return v;
  }

 private:
  void take(void* out, size_t n) {
    if (pos_ + n > bytes_.size()) throw CommError("rank 0's forward batch is truncated");
    std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
  }
  const std::vector<std::byte>& bytes_;
  size_t pos_ = 0;
};

void send(Communicator& comm, Command command, std::vector<std::byte> payload = {}, int64_t a = 0,
          int64_t b = 0) {
  Header header{static_cast<uint32_t>(command), 0, payload.size(), a, b};
  comm.broadcast(std::as_writable_bytes(std::span(&header, 1)), 0);
  if (!payload.empty()) comm.broadcast(payload, 0);
}

// A block's shares gathered over the group in rank order. The communicator moves floats: a
// share is a whole number of them (block_size · heads · head_dim · 2 tensors of 1, 2 or 4 bytes
// with an even head_dim), checked when the tiers open (Engine::open_kv_tiers).
void gather_shares(Communicator& comm, std::span<const std::byte> mine, std::span<std::byte> all) {
  comm.all_gather(
      std::span(reinterpret_cast<const float*>(mine.data()), mine.size() / sizeof(float)),
      std::span(reinterpret_cast<float*>(all.data()), all.size() / sizeof(float)));
}

std::vector<std::byte> encode(const ForwardBatch& batch) {
  Writer w;
  w.vector(batch.token_ids);
  w.vector(batch.positions);
  w.vector(batch.seq_of_token);
  w.vector(batch.slot_mapping);
  w.scalar(static_cast<uint64_t>(batch.block_tables.size()));
  for (const auto& table : batch.block_tables)
    w.vector(table);
  w.vector(batch.logits_indices);
  return std::move(w.bytes());
}

ForwardBatch decode(const std::vector<std::byte>& bytes) {
  Reader r(bytes);
  ForwardBatch batch;
  batch.token_ids = r.vector<int32_t>();
  batch.positions = r.vector<int32_t>();
  batch.seq_of_token = r.vector<int32_t>();
  batch.slot_mapping = r.vector<int64_t>();
  batch.block_tables.resize(static_cast<size_t>(r.scalar<uint64_t>()));
  for (auto& table : batch.block_tables)
    table = r.vector<int32_t>();
  batch.logits_indices = r.vector<int32_t>();
  return batch;
}

}  // namespace

void RankLeader::load(const RunnerOptions& options) {
  LoadSettings s;
  s.kv_dtype = static_cast<int32_t>(options.kv_dtype);
  s.block_size = options.block_size;
  s.num_kv_blocks = options.num_kv_blocks;
  s.runtime_activation_quant = options.runtime_activation_quant ? 1 : 0;
  Writer w;
  w.scalar(s);
  send(comm_, Command::kLoad, std::move(w.bytes()));
}

void RankLeader::forward(const ForwardBatch& batch) {
  send(comm_, Command::kForward, encode(batch));
}

void RankLeader::discard_kv(int64_t first_block, int64_t num_blocks) {
  send(comm_, Command::kDiscardKv, {}, first_block, num_blocks);
}

void RankLeader::read_block(int64_t block, const KvCache& mine, std::span<std::byte> all) {
  send(comm_, Command::kReadBlock, {}, block);
  std::vector<std::byte> share(mine.block_payload_bytes());
  mine.read_block(block, share);
  gather_shares(comm_, share, all);
}

void RankLeader::write_block(int64_t block, std::span<const std::byte> all) {
  send(comm_, Command::kWriteBlock, std::vector<std::byte>(all.begin(), all.end()), block);
}

void RankLeader::unload() {
  send(comm_, Command::kUnload);
}

void RankLeader::stop() {
  send(comm_, Command::kStop);
}

int follow_rank_zero(Communicator& comm, const std::filesystem::path& model, int threads,
                     const std::string& device, Communicator* collectives) {
  // mpirun forwards SIGTERM / SIGINT to every rank: rank 0 drains and then says stop; a
  // follower that died first would fail the forwards of the requests still draining.
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::unique_ptr<ModelRunner> runner;
  const std::string who = "mmd rank " + std::to_string(comm.rank()) + ": ";
  for (;;) {
    Header header;
    comm.broadcast(std::as_writable_bytes(std::span(&header, 1)), 0);
    std::vector<std::byte> payload(header.payload_bytes);
    if (!payload.empty()) comm.broadcast(payload, 0);
    switch (static_cast<Command>(header.command)) {
      case Command::kLoad: {
        Reader r(payload);
        const auto s = r.scalar<LoadSettings>();
        RunnerOptions options;
        options.kv_dtype = static_cast<KvDType>(s.kv_dtype);
        options.block_size = s.block_size;
        options.num_kv_blocks = s.num_kv_blocks;
        options.runtime_activation_quant = s.runtime_activation_quant != 0;
        options.num_threads = threads;
        options.device = device;
        options.comm = collectives != nullptr ? collectives : &comm;
        try {
          runner = ModelRunner::load(model, options);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "%scannot load %s: %s\n", who.c_str(), model.c_str(), error.what());
          return 1;
        }
        break;
      }
      case Command::kForward:
        if (!runner) {
          std::fprintf(stderr, "%sa forward batch arrived before the model was loaded\n",
                       who.c_str());
          return 1;
        }
        try {
          runner->forward_in_place(decode(payload));
        } catch (const std::invalid_argument&) {
          // Rank 0 refused the same batch before any collective and fails its requests.
        }
        break;
      case Command::kDiscardKv:
        if (runner) runner->kv_cache().discard_blocks(header.a, header.b);
        break;
      case Command::kReadBlock: {
        if (!runner) {
          std::fprintf(stderr, "%sa KV block was asked for before the model was loaded\n",
                       who.c_str());
          return 1;
        }
        const uint64_t share_bytes = runner->kv_cache().block_payload_bytes();
        std::vector<std::byte> share(share_bytes);
        runner->kv_cache().read_block(header.a, share);
        std::vector<std::byte> all(share_bytes * static_cast<uint64_t>(comm.size()));
        gather_shares(comm, share, all);
        break;
      }
      case Command::kWriteBlock:
        if (runner) {
          const uint64_t share_bytes = runner->kv_cache().block_payload_bytes();
          const uint64_t first = share_bytes * static_cast<uint64_t>(comm.rank());
          if (first + share_bytes <= payload.size())
            runner->kv_cache().write_block(header.a,
                                           std::span(payload).subspan(first, share_bytes));
        }
        break;
      case Command::kUnload:
        runner.reset();
        break;
      case Command::kStop:
        return 0;
      default:
        std::fprintf(stderr, "%sunknown command %u from rank 0\n", who.c_str(), header.command);
        return 1;
    }
  }
}

}  // namespace mm

// One MiniMax-M2 decoder layer at full size (hidden 3072, 48 query / 8 KV heads of 128, 256
// experts top-8 with intermediate 1536; FP8 128×128-block attention, W4A16 experts of group 32
// or 128), generated in memory on a backend, timed as a decode step at batch 1, 8, 32, 64 with
// a KV context per sequence. Reports time per layer, the bytes a step must read (attention and
// router weights, the experts the batch routes to, the KV cache) and their rate as a fraction
// of the memory roofline: the host triad on the CPU, --peak-gbs on a GPU.
//   layer_bench [--device=cpu|cuda] [--peak-gbs=N] [--group=32|128] [--experts=N]
//               [--context=N] [--iterations=N]
// (--experts scales the layer down for small machines; the routing stays top-8.)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench/triad.h"
#include "kernels/backend_factory.h"
#include "kernels/common/numeric.h"
#include "kernels/cpu/thread_pool.h"

namespace {

struct Shape {
  int64_t hidden = 3072, heads = 48, kv_heads = 8, head_dim = 128, rotary_dim = 64;
  int64_t experts = 256, top_k = 8, inter = 1536, group = 32;
  int64_t context = 1024;
};

// Fast deterministic bytes (xorshift64*): the values only need to be finite.
struct Bytes {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  uint8_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return static_cast<uint8_t>((state * 0x2545F4914F6CDD1Dull) >> 56);
  }
};

mm::PackedLinear fp8_block(Bytes& bytes, int64_t rows, int64_t cols) {
  mm::PackedLinear w;
  w.name = "fp8";
  w.format = mm::PackedFormat::kFp8Block;
  w.num_rows = rows;
  w.num_cols = cols;
  w.group_cols = 128;
  w.block_rows = 128;
  w.data.resize(static_cast<size_t>(rows * cols));
  for (uint8_t& b : w.data) {
    b = bytes.next();
    if ((b & 0x7F) == 0x7F) b ^= 1;  // no NaN codes
  }
  w.scales.assign(static_cast<size_t>((rows + 127) / 128 * w.num_groups()), 1e-3f);
  return w;
}

mm::PackedLinear int4_group(Bytes& bytes, int64_t rows, int64_t cols, int64_t group) {
  mm::PackedLinear w;
  w.name = "int4";
  w.format = mm::PackedFormat::kInt4Group;
  w.num_rows = rows;
  w.num_cols = cols;
  w.group_cols = group;
  w.data.resize(static_cast<size_t>(rows * w.row_bytes()));
  for (uint8_t& b : w.data)
    b = bytes.next();
  w.int4_scales.assign(static_cast<size_t>(rows * w.num_groups()), mm::f32_to_bf16(0.01f));
  return w;
}

mm::PackedLinear bf16_dense(Bytes& bytes, int64_t rows, int64_t cols) {
  mm::PackedLinear w;
  w.name = "bf16";
  w.format = mm::PackedFormat::kBf16;
  w.num_rows = rows;
  w.num_cols = cols;
  w.group_cols = cols;
  w.data.resize(static_cast<size_t>(rows * cols * 2));
  for (size_t i = 0; i < w.data.size(); i += 2) {
    w.data[i] = bytes.next();
    w.data[i + 1] = static_cast<uint8_t>(0x3C + (bytes.next() & 1));  // |x| ≈ 0.01
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  Shape shape;
  std::string device = "cpu";
  double peak_gbs = 0;
  int iterations = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) { return std::stoll(arg.substr(std::strlen(flag))); };
    if (arg.starts_with("--device=")) {
      device = arg.substr(9);
    } else if (arg.starts_with("--peak-gbs=")) {
      peak_gbs = std::stod(arg.substr(11));
    } else if (arg.starts_with("--group=")) {
      shape.group = value("--group=");
    } else if (arg.starts_with("--experts=")) {
      shape.experts = value("--experts=");
    } else if (arg.starts_with("--context=")) {
      shape.context = value("--context=");
    } else if (arg.starts_with("--iterations=")) {
      iterations = static_cast<int>(value("--iterations="));
    } else {
      std::fprintf(stderr, "layer_bench: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  double roofline = peak_gbs * 1e9;
  if (device == "cpu" && roofline <= 0) {
    mm::ThreadPool pool(0);
    roofline = mm::bench::measure_triad(pool, 5);
  }
  if (roofline <= 0) {
    std::fprintf(stderr, "layer_bench: --device=%s needs --peak-gbs=N\n", device.c_str());
    return 2;
  }
  std::unique_ptr<mm::Backend> be = mm::make_backend(device, 0);

  const int64_t q_size = shape.heads * shape.head_dim;
  const int64_t kv_size = shape.kv_heads * shape.head_dim;
  Bytes bytes;
  mm::PackedLinear q_proj = fp8_block(bytes, q_size, shape.hidden);
  mm::PackedLinear k_proj = fp8_block(bytes, kv_size, shape.hidden);
  mm::PackedLinear v_proj = fp8_block(bytes, kv_size, shape.hidden);
  mm::PackedLinear o_proj = fp8_block(bytes, shape.hidden, q_size);
  mm::PackedLinear router = bf16_dense(bytes, shape.experts, shape.hidden);
  mm::MoeWeights experts;
  experts.intermediate_size = shape.inter;
  uint64_t expert_bytes = 0;
  for (int64_t e = 0; e < shape.experts; ++e) {
    experts.w1.push_back(int4_group(bytes, shape.inter, shape.hidden, shape.group));
    experts.w3.push_back(int4_group(bytes, shape.inter, shape.hidden, shape.group));
    experts.w2.push_back(int4_group(bytes, shape.hidden, shape.inter, shape.group));
    if (e == 0) {
      expert_bytes =
          experts.w1[0].num_bytes() + experts.w3[0].num_bytes() + experts.w2[0].num_bytes();
    }
    for (mm::PackedLinear* w : {&experts.w1.back(), &experts.w3.back(), &experts.w2.back()})
      be->make_resident(*w);
  }
  be->make_resident(experts);
  uint64_t dense_bytes = 0;
  for (mm::PackedLinear* w : {&q_proj, &k_proj, &v_proj, &o_proj, &router}) {
    dense_bytes += w->num_bytes();
    be->make_resident(*w);
  }
  std::vector<float> ones(static_cast<size_t>(std::max(shape.hidden, q_size)), 1.0f);
  auto gain = be->upload(ones.data(), ones.size() * sizeof(float));
  std::vector<float> zero_bias(static_cast<size_t>(shape.experts), 0.0f);
  auto bias = be->upload(zero_bias.data(), zero_bias.size() * sizeof(float));

  std::printf(
      "layer_bench: device %s, experts %lld top-%lld, W4A16 g%lld, FP8 attention, "
      "context %lld, roofline %.0f GB/s\n",
      device.c_str(), static_cast<long long>(shape.experts), static_cast<long long>(shape.top_k),
      static_cast<long long>(shape.group), static_cast<long long>(shape.context), roofline / 1e9);
  std::printf("%6s %12s %10s %14s %10s %10s\n", "batch", "us/layer", "experts", "bytes/step",
              "GB/s", "roofline");
  for (const int64_t batch : {1, 8, 32, 64}) {
    const int block_size = 16;
    const int64_t blocks_per_seq = (shape.context + block_size - 1) / block_size;
    const int64_t num_blocks = batch * blocks_per_seq;
    const size_t kv_bytes = static_cast<size_t>(num_blocks * block_size * kv_size * 2);
    auto k_cache = be->allocate(kv_bytes);
    auto v_cache = be->allocate(kv_bytes);
    mm::KvLayerView cache{mm::KvDType::kBf16,
                          k_cache->data(),
                          v_cache->data(),
                          num_blocks,
                          block_size,
                          static_cast<int>(shape.kv_heads),
                          static_cast<int>(shape.head_dim),
                          1.0f,
                          1.0f};
    // Every sequence decodes its position context − 1 over its own contiguous blocks.
    std::vector<int32_t> positions(static_cast<size_t>(batch),
                                   static_cast<int32_t>(shape.context - 1));
    std::vector<int32_t> seq_of(static_cast<size_t>(batch));
    std::iota(seq_of.begin(), seq_of.end(), 0);
    std::vector<int64_t> slots(static_cast<size_t>(batch));
    std::vector<int32_t> tables(static_cast<size_t>(num_blocks));
    std::iota(tables.begin(), tables.end(), 0);
    for (int64_t s = 0; s < batch; ++s)
      slots[static_cast<size_t>(s)] = s * blocks_per_seq * block_size + shape.context - 1;
    auto d_pos = be->upload(positions.data(), positions.size() * 4);
    auto d_seq = be->upload(seq_of.data(), seq_of.size() * 4);
    auto d_slots = be->upload(slots.data(), slots.size() * 8);
    auto d_tables = be->upload(tables.data(), tables.size() * 4);
    mm::AttentionMetadata meta;
    meta.num_tokens = batch;
    meta.positions = static_cast<const int32_t*>(d_pos->data());
    meta.seq_of_token = static_cast<const int32_t*>(d_seq->data());
    meta.slot_mapping = static_cast<const int64_t*>(d_slots->data());
    meta.block_tables = static_cast<const int32_t*>(d_tables->data());
    meta.max_num_blocks_per_seq = blocks_per_seq;

    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x_host(static_cast<size_t>(batch * shape.hidden));
    for (float& v : x_host)
      v = normal(rng);
    auto x = be->upload(x_host.data(), x_host.size() * 4);
    auto f = [&](int64_t count) { return be->allocate(static_cast<size_t>(count) * 4); };
    auto normed = f(batch * shape.hidden), q = f(batch * q_size), k = f(batch * kv_size),
         v = f(batch * kv_size), attn = f(batch * q_size), proj = f(batch * shape.hidden),
         logits = f(batch * shape.experts), ids = f(batch * shape.top_k),
         weights = f(batch * shape.top_k), moe_out = f(batch * shape.hidden);
    auto* ids_ptr = static_cast<int32_t*>(ids->data());
    float check = 0;
    auto step = [&] {
      be->rms_norm(x->f32(), gain->f32(), batch, shape.hidden, 1e-6f, normed->f32());
      be->linear(q_proj, normed->f32(), batch, q->f32());
      be->linear(k_proj, normed->f32(), batch, k->f32());
      be->linear(v_proj, normed->f32(), batch, v->f32());
      be->rms_norm(q->f32(), gain->f32(), batch, q_size, 1e-6f, q->f32());
      be->rms_norm(k->f32(), gain->f32(), batch, kv_size, 1e-6f, k->f32());
      be->rope_neox(q->f32(), meta.positions, batch, shape.heads, shape.head_dim, shape.rotary_dim,
                    5e6);
      be->rope_neox(k->f32(), meta.positions, batch, shape.kv_heads, shape.head_dim,
                    shape.rotary_dim, 5e6);
      be->kv_write(cache, meta, k->f32(), v->f32());
      be->paged_attention(cache, meta, q->f32(), shape.heads, attn->f32());
      be->linear(o_proj, attn->f32(), batch, proj->f32());
      be->add(x->f32(), proj->f32(), batch * shape.hidden, proj->f32());
      be->rms_norm(proj->f32(), gain->f32(), batch, shape.hidden, 1e-6f, normed->f32());
      be->linear(router, normed->f32(), batch, logits->f32());
      be->router_topk(logits->f32(), bias->f32(), batch, shape.experts, shape.top_k, ids_ptr,
                      weights->f32());
      be->moe(experts, normed->f32(), batch, shape.hidden, ids_ptr, weights->f32(), shape.top_k,
              moe_out->f32());
      be->add(proj->f32(), moe_out->f32(), batch * shape.hidden, moe_out->f32());
      be->copy_to_host(&check, moe_out->f32(), sizeof(float));  // waits for the step
    };
    step();  // warm-up (and the routing the byte count uses)
    std::vector<int32_t> chosen(static_cast<size_t>(batch * shape.top_k));
    be->copy_to_host(chosen.data(), ids_ptr, chosen.size() * 4);
    const std::set<int32_t> used(chosen.begin(), chosen.end());
    const uint64_t step_bytes = dense_bytes + used.size() * expert_bytes +
                                static_cast<uint64_t>(batch * shape.context * kv_size * 2 * 2);
    const auto t0 = std::chrono::steady_clock::now();
    for (int it = 0; it < iterations; ++it)
      step();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iterations;
    const double rate = static_cast<double>(step_bytes) / seconds;
    std::printf("%6lld %12.1f %10zu %14llu %10.1f %9.1f%%\n", static_cast<long long>(batch),
                seconds * 1e6, used.size(), static_cast<unsigned long long>(step_bytes), rate / 1e9,
                100.0 * rate / roofline);
  }
  return 0;
}

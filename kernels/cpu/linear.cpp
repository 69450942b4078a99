// Linear dispatch, activation preparation and the scalar (portable) row kernels.
#include "kernels/cpu/linear.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/common/numeric.h"
#include "kernels/cpu/int4_row_tiles.h"

namespace mm {
namespace {

// e4m3fn decode table (exact values; built once, read-only afterwards).
const float* e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int code = 0; code < 256; ++code)
      t[static_cast<size_t>(code)] = e4m3fn_to_f32(static_cast<uint8_t>(code));
    return t;
  }();
  return table.data();
}

// The dequantized weight of row `row` (bytes of that row), column j, before group scaling.
inline float weight_unscaled(const LinearWeightsView& w, const uint8_t* row, int64_t j) {
  switch (w.format) {
    case PackedFormat::kF32: {
      float v;
      __builtin_memcpy(&v, row + 4 * j, 4);
      return v;
    }
    case PackedFormat::kBf16: {
      uint16_t bits;
      __builtin_memcpy(&bits, row + 2 * j, 2);
      return bf16_to_f32(bits);
    }
    case PackedFormat::kFp8Block:
      return e4m3_table()[row[j]];
    case PackedFormat::kInt4Group:
      return static_cast<float>(int4_chunked_get(row, j));
    case PackedFormat::kInt8Channel:
      return static_cast<float>(static_cast<int8_t>(row[j]));
  }
  return 0;
}

// Float-activation formats: each weight is dequantized to its exact f32 value (see
// linear_avx2.cpp) and multiplied into one f32 accumulator.
void rows_float_scalar(const LinearWeightsView& w, const LinearInputs& in, int64_t row_begin,
                       int64_t row_end, float* y) {
  const int64_t k_cols = w.num_cols;
  const int64_t num_groups = w.num_groups;
  const int64_t group_cols = w.group_cols;
  for (int64_t n = row_begin; n < row_end; ++n) {
    const uint8_t* row = w.data + n * w.row_bytes;
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const float* x = in.x + m * k_cols;
      float acc = 0;
      for (int64_t g = 0; g < num_groups; ++g) {
        float scale = 1.0f, bias = 0.0f;
        switch (w.format) {
          case PackedFormat::kFp8Block:
            scale = w.scales[(n / w.block_rows) * num_groups + g];
            break;
          case PackedFormat::kInt4Group:
            scale = bf16_to_f32(w.int4_scales[n * num_groups + g]);
            bias = int4_bias(scale, w.int4_zeros != nullptr ? w.int4_zeros[n * num_groups + g] : 0);
            break;
          case PackedFormat::kInt8Channel:
            scale = w.scales[n];
            break;
          default:
            break;
        }
        const int64_t k_end = std::min(k_cols, (g + 1) * group_cols);
        for (int64_t k = g * group_cols; k < k_end; ++k)
          acc += (weight_unscaled(w, row, k) * scale + bias) * x[k];
      }
      y[m * w.num_rows + n] = acc;
    }
  }
}

void rows_w8a8_scalar(const LinearWeightsView& w, const LinearInputs& in, int64_t row_begin,
                      int64_t row_end, float* y) {
  const int64_t k_cols = w.num_cols;
  for (int64_t n = row_begin; n < row_end; ++n) {
    const int8_t* row = reinterpret_cast<const int8_t*>(w.data + n * k_cols);
    for (int64_t m = 0; m < in.num_tokens; ++m) {
      const int8_t* xq = in.xq + m * k_cols;
      int32_t acc = 0;
      for (int64_t k = 0; k < k_cols; ++k)
        acc += static_cast<int32_t>(row[k]) * xq[k];
      y[m * w.num_rows + n] = (static_cast<float>(acc) * in.x_scales[m]) * w.scales[n];
    }
  }
}

}  // namespace

LinearRowsFn linear_rows_scalar(PackedFormat format, bool int8_activations) {
  if (format == PackedFormat::kInt8Channel && int8_activations) return &rows_w8a8_scalar;
  return &rows_float_scalar;
}

float quantize_int8_per_token(const float* x, int64_t num_cols, int8_t* xq) {
  float amax = 0;
  for (int64_t k = 0; k < num_cols; ++k)
    amax = std::max(amax, std::fabs(x[k]));
  if (amax == 0.0f) {
    std::fill(xq, xq + num_cols, int8_t{0});
    return 1.0f;
  }
  // vLLM multiplies by the reciprocal (quant-formats §2.3); mirror it for bit-exactness.
  const float inv = 127.0f / amax;
  for (int64_t k = 0; k < num_cols; ++k) {
    const float r = std::nearbyint(x[k] * inv);  // default FE_TONEAREST: ties to even
    xq[k] = static_cast<int8_t>(std::clamp(r, -128.0f, 127.0f));
  }
  return amax / 127.0f;
}

bool int4_fast_shape(const PackedLinear& w) {
  if (w.format != PackedFormat::kInt4Group || w.num_cols % 32 != 0) return false;
  return w.num_groups() == 1 || (w.group_cols % 32 == 0 && w.num_cols % w.group_cols == 0);
}

LinearTask prepare_linear(CpuIsa isa, const PackedLinear& w, const float* x, int64_t num_tokens,
                          float* y, LinearScratch& scratch, CpuNumerics numerics) {
  const int64_t k_cols = w.num_cols;
  LinearTask task;
  task.y = y;
  LinearInputs& in = task.in;
  in.x = x;
  in.num_tokens = num_tokens;
  if (!w.col_perm.empty()) {
    scratch.x_perm.resize(static_cast<size_t>(num_tokens * k_cols));
    for (int64_t m = 0; m < num_tokens; ++m) {
      for (int64_t j = 0; j < k_cols; ++j) {
        scratch.x_perm[static_cast<size_t>(m * k_cols + j)] =
            x[m * k_cols + w.col_perm[static_cast<size_t>(j)]];
      }
    }
    in.x = scratch.x_perm.data();
  }
  const bool w8a8 = w.format == PackedFormat::kInt8Channel && w.int8_activations;
  // Fast numerics: the int8-dot kernels take int4 with whole 32-column blocks per group and
  // int8 weights; the rest (and any other shape) stay on the exact kernels.
  LinearRowsFn fast_rows = nullptr;
  if (numerics == CpuNumerics::kFast && k_cols % 32 == 0) {
    const bool int4_fits = int4_fast_shape(w);
    // FP8 blocks: f32 activations, whole groups of 32·j columns (AVX-512 only).
    const bool fp8_fits =
        w.format == PackedFormat::kFp8Block && w.group_cols % 32 == 0 && k_cols % w.group_cols == 0;
    // BF16: f32 activations, any K that is a multiple of 32 (AVX-512 only).
    if (int4_fits || fp8_fits || w.format == PackedFormat::kInt8Channel ||
        w.format == PackedFormat::kBf16)
      fast_rows = linear_rows_int8dot(isa, w.format, w8a8);
  }
  // Row tiles (made resident so by the CPU backend) replace the row data: only their kernel can
  // run them.
  const Int4RowTiles* tiles = int4_row_tiles(w);
  if (tiles != nullptr) {
    if (numerics != CpuNumerics::kFast || isa != CpuIsa::kAvx512Vnni || fast_rows == nullptr) {
      throw std::logic_error(w.name + ": INT4 row tiles need fast numerics on AVX-512 VNNI");
    }
    fast_rows = linear_rows_int4_tiles_avx512vnni();
  }
  const bool f32_activations =
      w.format == PackedFormat::kFp8Block || w.format == PackedFormat::kBf16;
  if (fast_rows != nullptr && !w8a8 && !f32_activations) {
    const int64_t num_blocks = k_cols / 32;
    const bool int4 = w.format == PackedFormat::kInt4Group;
    // The packed-row INT4 kernels also read each block's d four times over (per token, and per
    // four tokens); the row tiles and the INT8 kernels read d once.
    const bool int4_rows = int4 && tiles == nullptr;
    scratch.xq_blocks.resize(static_cast<size_t>(num_tokens * k_cols));
    scratch.x_block_scales.resize(static_cast<size_t>(num_tokens * num_blocks));
    if (int4_rows) scratch.x_block_scales4.resize(static_cast<size_t>(4 * num_tokens * num_blocks));
    if (int4) scratch.x_block_offsets4.resize(static_cast<size_t>(4 * num_tokens * num_blocks));
    static thread_local std::vector<int32_t> qsums;
    qsums.resize(static_cast<size_t>(num_blocks));
    const int64_t num_groups = int4 ? w.num_groups() : 0;
    const int64_t blocks_per_group = int4 ? num_blocks / num_groups : 0;
    // The int4 activation layout (int4_act_index): super-blocks of two 32-column blocks, one
    // ymm load each; the tiles take column order (one token's four columns per broadcast).
    const int superblock = tiles != nullptr ? 0 : 2;
    if (int4) scratch.x_group_sums.resize(static_cast<size_t>(num_tokens * num_groups));
    for (int64_t m = 0; m < num_tokens; ++m) {
      float* d = scratch.x_block_scales.data() + m * num_blocks;
      (isa >= CpuIsa::kAvx2 ? quantize_int8_blocks32_avx2 : quantize_int8_blocks32)(
          in.x + m * k_cols, k_cols, int4 ? superblock : 0, scratch.xq_blocks.data() + m * k_cols,
          d, qsums.data());
      if (int4_rows) {
        float* d4 = scratch.x_block_scales4.data() + 4 * m * num_blocks;
        for (int64_t b = 0; b < num_blocks; ++b)
          std::fill(d4 + 4 * b, d4 + 4 * b + 4, d[b]);
      }
      if (int4) {
        int32_t* o4 = scratch.x_block_offsets4.data() + 4 * m * num_blocks;
        for (int64_t b = 0; b < num_blocks; ++b) {
          o4[4 * b] = -8 * qsums[static_cast<size_t>(b)];
          std::fill(o4 + 4 * b + 1, o4 + 4 * b + 4, 0);
        }
      }
      for (int64_t g = 0; g < num_groups; ++g) {
        float sum = 0;
        for (int64_t b = g * blocks_per_group; b < (g + 1) * blocks_per_group; ++b)
          sum += d[b] * static_cast<float>(qsums[static_cast<size_t>(b)]);
        scratch.x_group_sums[static_cast<size_t>(m * num_groups + g)] = sum;
      }
    }
    if (int4_rows) {
      scratch.x_token_scales4.assign(static_cast<size_t>((num_tokens + 3) / 4 * 4 * num_blocks),
                                     0.0f);
      for (int64_t m = 0; m < num_tokens; ++m) {
        const float* d = scratch.x_block_scales.data() + m * num_blocks;
        float* dt = scratch.x_token_scales4.data() + (m / 4) * 4 * num_blocks + m % 4;
        for (int64_t b = 0; b < num_blocks; ++b)
          dt[4 * b] = d[b];
      }
      in.x_token_scales4 = scratch.x_token_scales4.data();
      in.x_block_scales4 = scratch.x_block_scales4.data();
    }
    in.xq_blocks = scratch.xq_blocks.data();
    in.x_block_scales = scratch.x_block_scales.data();
    if (int4) in.x_block_offsets4 = scratch.x_block_offsets4.data();
    if (int4) in.x_group_sums = scratch.x_group_sums.data();
  }
  if (w8a8) {
    scratch.xq.resize(static_cast<size_t>(num_tokens * k_cols));
    scratch.x_scales.resize(static_cast<size_t>(num_tokens));
    for (int64_t m = 0; m < num_tokens; ++m) {
      scratch.x_scales[static_cast<size_t>(m)] =
          quantize_int8_per_token(in.x + m * k_cols, k_cols, scratch.xq.data() + m * k_cols);
    }
    in.xq = scratch.xq.data();
    in.x_scales = scratch.x_scales.data();
  }
  if (fast_rows == nullptr && isa >= CpuIsa::kAvx2 && w.format == PackedFormat::kInt4Group &&
      w.group_cols % 16 == 0 && k_cols % w.group_cols == 0) {
    const int64_t num_groups = w.num_groups();
    scratch.x_group_sums.resize(static_cast<size_t>(num_tokens * num_groups));
    for (int64_t m = 0; m < num_tokens; ++m) {
      for (int64_t g = 0; g < num_groups; ++g) {
        const float* xg = in.x + m * k_cols + g * w.group_cols;
        float sum = 0;
        for (int64_t j = 0; j < w.group_cols; ++j)
          sum += xg[j];
        scratch.x_group_sums[static_cast<size_t>(m * num_groups + g)] = sum;
      }
    }
    in.x_group_sums = scratch.x_group_sums.data();
  }
  LinearWeightsView& view = task.view;
  view.format = w.format;
  view.num_rows = w.num_rows;
  view.num_cols = k_cols;
  view.row_bytes = w.row_bytes();
  view.group_cols = w.group_cols > 0 ? w.group_cols : k_cols;
  view.num_groups = w.group_cols > 0 ? w.num_groups() : 1;
  view.block_rows = w.block_rows;
  view.data = w.data.data();
  view.scales = w.scales.data();
  view.int4_scales = w.int4_scales.data();
  view.int4_zeros = w.int4_zeros.empty() ? nullptr : w.int4_zeros.data();
  if (tiles != nullptr) {
    view.int4_tiles = tiles->data.data();
    view.int4_tile_scales = tiles->scales.data();
  }
  if (fast_rows != nullptr) {
    task.rows = fast_rows;
  } else {
    task.rows = isa >= CpuIsa::kAvx2 ? linear_rows_avx2(w.format, w8a8)
                                     : linear_rows_scalar(w.format, w8a8);
  }
  return task;
}

namespace {

// Tokens [first, first + count) of `in`: every per-token array advanced by `first` tokens.
LinearInputs token_slice(const LinearInputs& in, const LinearWeightsView& w, int64_t first,
                         int64_t count) {
  const int64_t k = w.num_cols;
  const int64_t blocks = k / 32;
  LinearInputs out = in;
  out.num_tokens = count;
  if (in.x) out.x = in.x + first * k;
  if (in.xq) out.xq = in.xq + first * k;
  if (in.x_scales) out.x_scales = in.x_scales + first;
  if (in.x_group_sums) out.x_group_sums = in.x_group_sums + first * w.num_groups;
  if (in.xq_blocks) out.xq_blocks = in.xq_blocks + first * k;
  if (in.x_block_scales) out.x_block_scales = in.x_block_scales + first * blocks;
  if (in.x_block_scales4) out.x_block_scales4 = in.x_block_scales4 + first * 4 * blocks;
  if (in.x_block_offsets4) out.x_block_offsets4 = in.x_block_offsets4 + first * 4 * blocks;
  // Passes start at multiples of 4 tokens (tokens_per_pass), so the groups of four stay aligned.
  if (in.x_token_scales4) out.x_token_scales4 = in.x_token_scales4 + first * blocks;
  return out;
}

// Tokens per pass of a row kernel over its rows. The kernels walk rows and, for each row, every
// token: with hundreds of tokens (prefill) each row re-read the whole activation matrix (2 MB
// at 512 tokens × 1024 f32 columns) from L2 or beyond. In passes of a few tokens whose
// activations stay in L1 (32 KB), each weight row is read from L2 once per pass instead. A
// multiple of the kernels' 4-token tile; each output is computed exactly as in one pass.
int64_t tokens_per_pass(const LinearInputs& in, const LinearWeightsView& w) {
  const int64_t bytes_per_token =
      (in.xq_blocks || in.xq ? 1 : 4) * std::max<int64_t>(1, w.num_cols);
  return std::max<int64_t>(4, (int64_t{32} * 1024 / bytes_per_token) / 4 * 4);
}

}  // namespace

void run_linear_tasks(ThreadPool& pool, const LinearTask* tasks, int64_t num_tasks) {
  // Row chunks: at least 16 rows (amortises the per-chunk token loop), about four chunks per
  // thread per task so a slow (shared) core does not hold the others back.
  struct Chunk {
    int64_t task, begin, end;
  };
  // The caller's list; workers reach it through the reference captured below.
  static thread_local std::vector<Chunk> chunk_list;
  std::vector<Chunk>& chunks = chunk_list;
  chunks.clear();
  for (int64_t t = 0; t < num_tasks; ++t) {
    if (tasks[t].in.num_tokens <= 0) continue;
    const int64_t rows = tasks[t].view.num_rows;
    // Whole 16-row tiles per chunk (int4_row_tiles.h); the other kernels do not mind.
    const int64_t grain =
        (std::max<int64_t>(16, rows / (int64_t{4} * pool.num_threads())) + 15) / 16 * 16;
    for (int64_t begin = 0; begin < rows; begin += grain)
      chunks.push_back({t, begin, std::min(rows, begin + grain)});
  }
  pool.parallel_for(static_cast<int64_t>(chunks.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      const Chunk& chunk = chunks[static_cast<size_t>(c)];
      const LinearTask& task = tasks[chunk.task];
      const int64_t pass = tokens_per_pass(task.in, task.view);
      if (task.in.num_tokens <= pass) {
        task.rows(task.view, task.in, chunk.begin, chunk.end, task.y);
        continue;
      }
      for (int64_t m0 = 0; m0 < task.in.num_tokens; m0 += pass) {
        const int64_t count = std::min(pass, task.in.num_tokens - m0);
        task.rows(task.view, token_slice(task.in, task.view, m0, count), chunk.begin, chunk.end,
                  task.y + m0 * task.view.num_rows);
      }
    }
  });
}

void linear_cpu(ThreadPool& pool, CpuIsa isa, const PackedLinear& w, const float* x,
                int64_t num_tokens, float* y, CpuNumerics numerics) {
  if (num_tokens <= 0) return;
  static thread_local LinearScratch scratch;
  const LinearTask task = prepare_linear(isa, w, x, num_tokens, y, scratch, numerics);
  run_linear_tasks(pool, &task, 1);
}

}  // namespace mm

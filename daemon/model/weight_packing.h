// Repacking checkpoint Linear weights into the CPU kernels' layout (kernels/packed_linear.h),
// once at load, streaming each tensor from the checkpoint's mmap (peak memory ≈ the packed
// size plus one tensor). One pack_<format>() per checkpoint format; pack_linear() dispatches on
// the LinearScheme that bind_model_weights decided. Pure functions; safe from any thread.
#pragma once

#include <vector>

#include "daemon/model/checkpoint.h"
#include "daemon/model/model_weights.h"
#include "kernels/packed_linear.h"

namespace mm {

// BF16 `weight` → kBf16 (copied bits); F32 → kF32; F16 → kF32 (exact widening).
PackedLinear pack_dense(const Checkpoint& checkpoint, const LinearWeights& linear);
// F8_E4M3 `weight` + block / channel / tensor scales → kFp8Block (codes copied, scales f32).
PackedLinear pack_fp8(const Checkpoint& checkpoint, const LinearWeights& linear);
// compressed-tensors pack-quantized 4-bit (quant-formats §2.2.3): symmetric or with zero
// points, group or channel, with `weight_g_idx` (act order) → kInt4Group, columns sorted by
// group so each group is contiguous.
PackedLinear pack_int4(const Checkpoint& checkpoint, const LinearWeights& linear);
// I8 `weight` + per-channel scales (Quark ptpc / CT int-quantized) → kInt8Channel.
PackedLinear pack_int8(const Checkpoint& checkpoint, const LinearWeights& linear);

// Dispatches on linear.scheme. Throws LoadError naming the module when its layout is not one
// the CPU kernels run.
PackedLinear pack_linear(const Checkpoint& checkpoint, const LinearWeights& linear);

// What ModelRunner::load refuses in a checkpoint that binds, checked before anything is packed
// and without packing: an embedding that is not BF16, per-head or non-positive KV scales, int4
// layouts the kernels cannot decode, int4 scales that are not exact BF16, FP8 or INT8 scale
// strategies the kernels lack. Reads only headers and the int4 and KV scales. Throws LoadError
// with the message the load gives; `mmctl inspect` runs it too.
void check_runnable(const Checkpoint& checkpoint, const ModelWeights& weights);

// A 1-D float tensor (norm gains, biases, KV scales) as f32.
std::vector<float> load_f32_vector(const Checkpoint& checkpoint, TensorRef ref);

}  // namespace mm

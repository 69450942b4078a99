#include "kernels/common/numeric.h"
#include "kernels/cpu/cpu_ops.h"

namespace mm {

void embedding_cpu(const uint16_t* table, int64_t /*vocab*/, int64_t hidden, const int32_t* ids,
                   int64_t num_tokens, float* out) {
  for (int64_t t = 0; t < num_tokens; ++t) {
    const uint16_t* row = table + static_cast<int64_t>(ids[t]) * hidden;
    for (int64_t h = 0; h < hidden; ++h) out[t * hidden + h] = bf16_to_f32(row[h]);
  }
}

}  // namespace mm

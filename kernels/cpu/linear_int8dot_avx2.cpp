// The fast int8-dot kernels for AVX2 (vpmaddubsw + vpmaddwd): the reference the VNNI paths are
// tested against. Compiled with -mavx2 -mfma -mf16c; called only after detected_cpu_isa().
#define MMD_INT8DOT_VNNI 0
#define MMD_INT8DOT_NAME linear_rows_int8dot_avx2
#include "kernels/cpu/linear_int8dot_ymm.inc"

// The fast int8-dot kernels for AVX-VNNI (vpdpbusd on ymm: one instruction for the
// multiply-add-widen-accumulate that AVX2 does in three). Compiled with -mavx2 -mfma -mf16c
// -mavxvnni; called only when cpu_supports(CpuIsa::kAvxVnni).
#define MMD_INT8DOT_VNNI 1
#define MMD_INT8DOT_NAME linear_rows_int8dot_avxvnni
#include "kernels/cpu/linear_int8dot_ymm.inc"

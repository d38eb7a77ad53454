/* Force-included (-include) before csrc/isa/neon.c by tests/simde/run.sh: SIMDe's portable NEON
 * (AArch64 Advanced SIMD) under the native intrinsic names, so the NEON path compiles and runs
 * on any machine. FD_NEON_EMULATED is the file's only hook (no arm_neon.h). The float16
 * conversions are csrc/kernels.h's fd_half_to_float / fd_float_to_half (the hardware's fcvtl /
 * fcvtn semantics: round to nearest even, NaNs made quiet keeping their top payload bits), as
 * SIMDe's own differ on NaNs and subnormals; tests/cross/run.sh checks the real instructions
 * under qemu. */
#ifndef FD_SIMDE_NEON_SHIM_H
#define FD_SIMDE_NEON_SHIM_H

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>

#include <stdint.h>

#include "kernels.h"

#define FD_NEON_EMULATED 1

static inline __attribute__((unused)) simde_float32x4_t fd_shim_vcvt_f32_f16(simde_float16x4_t h)
{
    uint16_t in[4];
    float out[4];
    simde_vst1_u16(in, simde_vreinterpret_u16_f16(h));
    for (int i = 0; i < 4; i++)
        out[i] = fd_half_to_float(in[i]);
    return simde_vld1q_f32(out);
}

static inline __attribute__((unused)) simde_float16x4_t fd_shim_vcvt_f16_f32(simde_float32x4_t v)
{
    float in[4];
    uint16_t out[4];
    simde_vst1q_f32(in, v);
    for (int i = 0; i < 4; i++)
        out[i] = fd_float_to_half(in[i]);
    return simde_vreinterpret_f16_u16(simde_vld1_u16(out));
}

/* SIMDe 0.7's vmull_high_u32 multiplies as signed 64-bit (undefined behaviour that UBSan
 * reports; the bits come out right): the unsigned low-half multiply of the high halves instead */
#undef vmull_high_u32
#define vmull_high_u32(a, b) simde_vmull_u32(simde_vget_high_u32(a), simde_vget_high_u32(b))

#undef vcvt_f32_f16
#undef vcvt_f16_f32
#define vcvt_f32_f16(h) fd_shim_vcvt_f32_f16(h)
#define vcvt_f16_f32(v) fd_shim_vcvt_f16_f32(v)

#endif

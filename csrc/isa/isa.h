/* Shared by the files of csrc/isa/ (nothing outside includes it). Each ISA file defines, before
 * including the -inl.h implementation headers:
 *   FD_SFX     its name suffix (_scalar, _avx2, ...): the table's functions are ENTRY(apply_f32)
 *              = apply_f32_avx2 etc., so profiles and disassembly tell the paths apart;
 *   FD_TARGET  its target attribute (empty for the scalar file).
 * The x86 files compile to a name-only table elsewhere (FD_X86 unset). */
#ifndef FASTDROP_ISA_H
#define FASTDROP_ISA_H

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FD_X86 1
#include <cpuid.h>
/* F16C (CPUID.1:ECX bit 29), asked directly: Clang's __builtin_cpu_supports (14 and older) does
 * not know the name. The AVX checks that come with it cover the OS's saving of ymm state. */
static inline int fd_cpu_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

#define FD_CAT_(a, b) a##b
#define FD_CAT(a, b) FD_CAT_(a, b)
#define ENTRY(name) FD_CAT(name, FD_SFX)

#endif

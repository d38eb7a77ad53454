/* Runtime CPU dispatch: the widest path this CPU and build support, unless forced by
 * FASTDROP_ISA=scalar|avx2|avx512 (read once, at first use) or fd_isa_set(). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"

static const char *const isa_names[] = {"scalar", "avx2", "avx512"};

const char *fd_isa_name(fd_isa isa)
{
    return (unsigned)isa <= FD_ISA_AVX512 ? isa_names[isa] : "unknown";
}

int fd_isa_supported(fd_isa isa)
{
    switch (isa) {
    case FD_ISA_SCALAR:
        return 1;
#ifdef FD_X86
    case FD_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case FD_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#endif
    default:
        return 0;
    }
}

fd_isa fd_isa_best(void)
{
    if (fd_isa_supported(FD_ISA_AVX512))
        return FD_ISA_AVX512;
    if (fd_isa_supported(FD_ISA_AVX2))
        return FD_ISA_AVX2;
    return FD_ISA_SCALAR;
}

/* -1: not chosen yet. A plain int: every value is a valid choice, so a race only picks one. */
static volatile int current_isa = -1;

static fd_isa isa_from_env(void)
{
    const char *env = getenv("FASTDROP_ISA");
    if (env && *env) {
        for (int i = 0; i <= FD_ISA_AVX512; i++)
            if (!strcmp(env, isa_names[i]) && fd_isa_supported((fd_isa)i))
                return (fd_isa)i;
    }
    return fd_isa_best();
}

fd_isa fd_isa_get(void)
{
    int isa = current_isa;
    if (isa < 0)
        current_isa = isa = (int)isa_from_env();
    return (fd_isa)isa;
}

int fd_isa_set(fd_isa isa)
{
    if (!fd_isa_supported(isa))
        return -1;
    current_isa = (int)isa;
    return 0;
}

const fd_kernels *fd_kernels_current(void)
{
    switch (fd_isa_get()) {
#ifdef FD_X86
    case FD_ISA_AVX512:
        return &fd_kernels_avx512;
    case FD_ISA_AVX2:
        return &fd_kernels_avx2;
#endif
    default:
        return &fd_kernels_scalar;
    }
}

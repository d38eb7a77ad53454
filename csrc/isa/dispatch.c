/* Runtime CPU dispatch: the one place that knows the list of ISA paths and reads the chosen one.
 * The chosen path is the best one this CPU and build support, unless forced by FASTDROP_ISA=name
 * (read once, at first use; a name that is not a path, or a path this CPU or build does not run,
 * is recorded for fd_isa_env_status(), which the Python layer turns into an error at import) or
 * fd_isa_set(). Every path is one table (kernels.h) filled by its
 * file in csrc/isa/, which also holds the path's name and CPU check; everything else calls
 * fd_kernels_current()->entry(...). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"

extern const fd_kernels fd_kernels_scalar, fd_kernels_vector, fd_kernels_avx2, fd_kernels_avx512,
    fd_kernels_neon;

/* Worst first: fd_isa_best() takes the last one this CPU supports. The index is the fd_isa.
 * Every table is in every build (a path for another architecture is a name-only table whose
 * CPU check is NULL), so the names and indices are the same everywhere: x86-64 runs scalar,
 * vector (SSE2), avx2, avx512; aarch64 scalar, vector, neon; other CPUs scalar, vector. */
static const fd_kernels *const isas[] = {
    &fd_kernels_scalar,
    &fd_kernels_vector,
    &fd_kernels_avx2,
    &fd_kernels_avx512,
    &fd_kernels_neon,
};

#define NISA ((int)(sizeof isas / sizeof isas[0]))

int fd_isa_count(void) { return NISA; }

const char *fd_isa_name(fd_isa isa)
{
    return (unsigned)isa < (unsigned)NISA ? isas[isa]->name : "unknown";
}

/* Each path's CPU check, asked once: it may run cpuid, which in a virtual machine is a trip to
 * the hypervisor (microseconds), and every call's plan asks. 0: not asked yet, 1 yes, 2 no. */
static volatile signed char supported_cache[NISA];

int fd_isa_supported(fd_isa isa)
{
    if ((unsigned)isa >= (unsigned)NISA)
        return 0;
    int s = supported_cache[isa];
    if (!s)
        supported_cache[isa] = (signed char)(s = isas[isa]->supported && isas[isa]->supported() ? 1 : 2);
    return s == 1;
}

fd_isa fd_isa_best(void)
{
    fd_isa isa = NISA - 1;
    while (isa > FD_ISA_SCALAR && !fd_isa_supported(isa))
        isa--;
    return isa;
}

/* -1: not chosen yet. A plain int: every value is a valid choice, so a race only picks one. */
static volatile int current_isa = -1;
/* Set when FASTDROP_ISA or fd_isa_set chose the path: it then wins over a measured plan. */
static volatile int isa_forced;

/* FASTDROP_ISA as read: 0 unset or a path this CPU runs, 1 not a path's name, 2 a path this
 * CPU or build does not run (then the best path is used). */
static volatile int env_status = 0;

static fd_isa isa_from_env(void)
{
    const char *env = getenv("FASTDROP_ISA");
    if (env && *env) {
        for (fd_isa i = 0; i < NISA; i++)
            if (!strcmp(env, isas[i]->name)) {
                if (fd_isa_supported(i)) {
                    isa_forced = 1;
                    return i;
                }
                env_status = 2;
                return fd_isa_best();
            }
        env_status = 1;
    }
    return fd_isa_best();
}

fd_isa fd_isa_get(void)
{
    int isa = current_isa;
    if (isa < 0)
        current_isa = isa = isa_from_env();
    return isa;
}

int fd_isa_env_status(void)
{
    fd_isa_get();
    return env_status;
}

int fd_isa_set(fd_isa isa)
{
    if (!fd_isa_supported(isa))
        return -1;
    current_isa = isa;
    isa_forced = 1;
    return 0;
}

void fd_isa_reset(void)
{
    current_isa = fd_isa_best();
    isa_forced = 0;
}

int fd_isa_forced(void)
{
    fd_isa_get();
    return isa_forced;
}

const fd_kernels *fd_kernels_current(void) { return isas[fd_isa_get()]; }

const fd_kernels *fd_kernels_of(fd_isa isa) { return fd_isa_supported(isa) ? isas[isa] : NULL; }

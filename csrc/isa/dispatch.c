/* Runtime CPU dispatch: the one place that knows the list of ISA paths and reads the chosen one.
 * The chosen path is the best one this CPU and build support, unless forced by FASTDROP_ISA=name
 * (read once, at first use) or fd_isa_set(). Every path is one table (kernels.h) filled by its
 * file in csrc/isa/, which also holds the path's name and CPU check; everything else calls
 * fd_kernels_current()->entry(...). */
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "kernels.h"

extern const fd_kernels fd_kernels_scalar, fd_kernels_avx2, fd_kernels_avx512;

/* Worst first: fd_isa_best() takes the last one this CPU supports. The index is the fd_isa. */
static const fd_kernels *const isas[] = {
    &fd_kernels_scalar,
    &fd_kernels_avx2,
    &fd_kernels_avx512,
};

#define NISA ((int)(sizeof isas / sizeof isas[0]))

int fd_isa_count(void) { return NISA; }

const char *fd_isa_name(fd_isa isa)
{
    return (unsigned)isa < (unsigned)NISA ? isas[isa]->name : "unknown";
}

int fd_isa_supported(fd_isa isa)
{
    return (unsigned)isa < (unsigned)NISA && isas[isa]->supported && isas[isa]->supported();
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

static fd_isa isa_from_env(void)
{
    const char *env = getenv("FASTDROP_ISA");
    if (env && *env) {
        for (fd_isa i = 0; i < NISA; i++)
            if (!strcmp(env, isas[i]->name) && fd_isa_supported(i)) {
                isa_forced = 1;
                return i;
            }
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

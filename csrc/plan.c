/* The store policy and the measured plan (plan.h). Plain ints read without locks: every value
 * is a valid choice, so a racing update only picks one of two valid plans. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "plan.h"

/* Built-in threshold when the OS gives no last-level cache size. */
#define DEFAULT_THRESHOLD ((size_t)16 << 20)
/* The OS's cache size is clamped to [4 MiB, 32 MiB]: the cache is shared with the other cores
 * (in a virtual machine, with other guests: a guest may be shown its host's 480 MiB), so an
 * output that merely fits in it is evicted before it is read again. */
#define MIN_THRESHOLD ((size_t)4 << 20)
#define MAX_THRESHOLD ((size_t)32 << 20)

static volatile size_t threshold; /* 0: not set yet */

static size_t llc_bytes(void)
{
    long v = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    v = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (v <= 0)
        v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return v > 0 ? (size_t)v : 0;
}

size_t fd_stream_threshold_default(void)
{
    size_t c = llc_bytes();
    if (!c)
        return DEFAULT_THRESHOLD;
    return c < MIN_THRESHOLD ? MIN_THRESHOLD : c > MAX_THRESHOLD ? MAX_THRESHOLD : c;
}

size_t fd_stream_threshold(void)
{
    size_t t = threshold;
    if (!t)
        threshold = t = fd_stream_threshold_default();
    return t;
}

void fd_set_stream_threshold(size_t bytes) { threshold = bytes ? bytes : 1; }

int fd_isa_has_streaming(fd_isa isa)
{
    const fd_kernels *k = fd_kernels_of(isa);
    return k && k->stream_bytes;
}

int fd_size_class(size_t nbytes)
{
    return nbytes < ((size_t)256 << 10) ? 0 : nbytes < ((size_t)4 << 20) ? 1
           : nbytes < ((size_t)32 << 20) ? 2 : 3;
}

/* -1: built in. */
static volatile signed char plan_isa[FD_NOPC][3][FD_NSIZE];
static volatile signed char plan_stream[FD_NOPC][3][FD_NSIZE];
static volatile int plan_ready; /* the arrays hold -1 */

void fd_plan_clear(void)
{
    for (int o = 0; o < FD_NOPC; o++)
        for (int d = 0; d < 3; d++)
            for (int c = 0; c < FD_NSIZE; c++)
                plan_isa[o][d][c] = plan_stream[o][d][c] = -1;
    plan_ready = 1;
}

int fd_plan_set(int opc, int dtype, int size_class, int isa, int stream)
{
    if ((unsigned)opc >= FD_NOPC || (unsigned)dtype > FD_F64 || (unsigned)size_class >= FD_NSIZE ||
        isa < -1 || (isa >= 0 && !fd_isa_supported(isa)) || stream < -1 || stream > 1)
        return -1;
    if (!plan_ready)
        fd_plan_clear();
    plan_isa[opc][dtype][size_class] = (signed char)isa;
    plan_stream[opc][dtype][size_class] = (signed char)stream;
    return 0;
}

int fd_plan_get(int opc, int dtype, int size_class, int *isa, int *stream)
{
    if ((unsigned)opc >= FD_NOPC || (unsigned)dtype > FD_F64 || (unsigned)size_class >= FD_NSIZE)
        return -1;
    *isa = plan_ready ? plan_isa[opc][dtype][size_class] : -1;
    *stream = plan_ready ? plan_stream[opc][dtype][size_class] : -1;
    return 0;
}

int fd_plan_choice(int opc, int dtype, size_t nbytes, int *stream)
{
    int isa = -1, st = -1;
    if (plan_ready && (unsigned)opc < FD_NOPC && (unsigned)dtype <= FD_F64) {
        int c = fd_size_class(nbytes);
        isa = plan_isa[opc][dtype][c];
        st = plan_stream[opc][dtype][c];
    }
    if (isa < 0 || fd_isa_forced() || !fd_isa_supported(isa))
        isa = fd_isa_get();
    /* built in: Gaussian noise is not streamed (its transform costs more than the memory
     * traffic, and it has no streaming kernel: its tiles would go through a buffer) */
    if (st < 0)
        st = opc != FD_OPC_NOISE && nbytes >= fd_stream_threshold();
    *stream = st && fd_kernels_of(isa)->stream_bytes;
    return isa;
}

const fd_kernels *fd_plan_choose(fd_opclass opc, fd_dtype dtype, size_t nbytes, int *stream)
{
    return fd_kernels_of(fd_plan_choice(opc, dtype, nbytes, stream));
}

/* Bit-for-bit check of the Gaussian tiles of every SIMD path (csrc/isa/autovec-inl.h:
 * gcc-vectorised float32 Box-Muller, fused with y = x * (1 + s * z)) against the scalar path,
 * through the dispatcher (fd_isa_set, csrc/gaussian.c), natively for each path this CPU runs
 * (the paths are auto-vectorised C, so SIMDe cannot emulate them). Run by run.sh under
 * AddressSanitizer/UBSan when available: the fused whole-group loops, the partial groups at
 * either end and the word buffers must not touch memory past n. Covers the normals
 * (fd_gaussian_normals) and float16 / float32 / float64 outputs at unaligned offsets, odd
 * sizes, in place and out of place. Exit status 1 on a mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastdrop.h"
#include "gaussian.h"
#include "structured.h"

static long nchecks, nfail;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void check(const char *what, const void *a, const void *b, size_t bytes, size_t n,
                  uint64_t off)
{
    nchecks++;
    if (memcmp(a, b, bytes) && nfail++ < 20)
        printf("MISMATCH %s: n=%zu offset=%llu\n", what, n, (unsigned long long)off);
}

/* out = gaussian noise of x (dtype dt, n elements, exact-size heap buffers for ASan). */
static void *noise(fd_isa isa, fd_dtype dt, const void *x, size_t n, uint64_t off,
                   uint64_t seed, double sigma, int inplace)
{
    static const size_t es[] = {2, 4, 8};
    void *y = malloc(n * es[dt] + 1);
    fd_isa_set(isa);
    if (inplace) {
        memcpy(y, x, n * es[dt]);
        fd_gaussian_apply(dt, y, y, n, off, seed, sigma);
    } else {
        fd_gaussian_apply(dt, x, y, n, off, seed, sigma);
    }
    return y;
}

int main(void)
{
    static const size_t sizes[] = {1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000, 1023,
                                   1024, 1025, 2047, 2048, 2049, 3000, 5001};
    static const size_t es[] = {2, 4, 8};
    for (fd_isa isa = FD_ISA_SCALAR + 1; isa < fd_isa_count(); isa++) {
        if (!fd_isa_supported(isa)) {
            printf("gaussian: %s not supported by this CPU, skipped\n", fd_isa_name(isa));
            continue;
        }
        long before = nchecks;
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            for (int trial = 0; trial < 6; trial++) {
                uint64_t off = trial == 5 ? ~0ull - n + 1 : (trial < 3 ? (uint64_t)trial : rnd() >> 20);
                uint64_t seed = rnd();
                double sigma = 0.05 + (double)(rnd() >> 11) * 0x1p-53;
                float *za = malloc(n * 4), *zb = malloc(n * 4);
                fd_isa_set(FD_ISA_SCALAR);
                fd_gaussian_normals(za, n, seed, off, 1);
                fd_isa_set(isa);
                fd_gaussian_normals(zb, n, seed, off, 1);
                check("normals", za, zb, n * 4, n, off);
                free(za);
                free(zb);
                for (int dt = FD_F16; dt <= FD_F64; dt++) {
                    unsigned char *x = malloc(n * es[dt]);
                    for (size_t i = 0; i < n * es[dt]; i++)
                        x[i] = (unsigned char)rnd();
                    for (int inplace = 0; inplace < 2; inplace++) {
                        void *ya = noise(FD_ISA_SCALAR, (fd_dtype)dt, x, n, off, seed, sigma,
                                         inplace);
                        void *yb = noise(isa, (fd_dtype)dt, x, n, off, seed, sigma, inplace);
                        check(inplace ? "apply in place" : "apply", ya, yb, n * es[dt], n, off);
                        free(ya);
                        free(yb);
                    }
                    free(x);
                }
            }
        }
        printf("gaussian %s: %ld checks against the scalar path\n", fd_isa_name(isa),
               nchecks - before);
    }
    if (nfail) {
        printf("FAILED: %ld of %ld Gaussian checks\n", nfail, nchecks);
        return 1;
    }
    printf("OK: %ld Gaussian checks, every native SIMD path bit-identical to the scalar path\n",
           nchecks);
    return 0;
}

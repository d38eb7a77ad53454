/* The loops of one dtype, included by loops-inl.h once per dtype (no include guard) with
 *   DT  the name part (_f32, _f64, _f16): FN(group) = group_f32, ENTRY(FN(apply)) = apply_f32_avx2
 *   T   the element type, S the compute scalar (float for float16), V the compute vector,
 *   VT  the vector a chunk of elements loads into (VH for float16), W elements a chunk.
 * Undefines them at the end. */
#define FN(name) FD_CAT(name, DT)

#ifndef FD_MASKED_MEMORY
/* No masked loads and stores: a partial chunk goes through a zeroed buffer (tails only). */
FD_TARGET static inline VT FN(load_part)(const T *p, size_t k)
{
    T b[W] = {0};
    memcpy(b, p, k * sizeof(T));
    return FN(load)(b);
}

FD_TARGET static inline void FN(store_part)(T *p, size_t k, VT v)
{
    T b[W];
    FN(store)(b, v);
    memcpy(p, b, k * sizeof(T));
}
#endif

/* One 64-element group: y = keep ? x * s : +0 (scaled == 0: keep ? x : +0). */
FD_TARGET static inline void FN(group)(const T *x, T *y, uint64_t word, V vs, int scaled)
{
    for (int c = 0; c < 64 / W; c++)
        FN(store)(y + W * c, FN(vscale)(FN(load)(x + W * c), FN(mask)(word, c), vs, scaled));
}

/* One 64-element group of alpha dropout: y = keep ? x * a + b : d. */
FD_TARGET static inline void FN(affine_group)(const T *x, T *y, uint64_t word, V va, V vb, V vd)
{
    for (int c = 0; c < 64 / W; c++)
        FN(store)(y + W * c, FN(vaffine)(FN(load)(x + W * c), FN(mask)(word, c), va, vb, vd));
}

#ifdef FD_STREAM_STORES
#ifndef FD_STREAM_PREFETCH
/* Bytes of x to prefetch ahead in the streaming kernels: with streaming stores in flight the
 * hardware prefetcher alone left the loads of x exposed (measured on a Sapphire Rapids class
 * Xeon: the forward at 1.5 G elements/s without, 2.1 with, against a streaming copy at 3.1) */
#define FD_STREAM_PREFETCH 1024
#endif
/* Streaming (non-temporal) stores of consecutive result vectors 0, 1, ... to y, which need not
 * start on a vector boundary (NumPy's large arrays start 16 bytes into a cache line): the
 * first `off` lanes (up to the first boundary) are stored plainly, then every vector boundary
 * of y gets realign(previous, current) streamed whole, and FN(sink_end) stores the rest of the
 * last vector plainly. The stores are issued between the kernel's arithmetic, so the memory
 * traffic overlaps it (a tile made first and streamed out afterwards did not overlap). */
typedef struct {
    T *y;
    size_t off, k; /* lanes before the first boundary (0: aligned); vectors put */
    VT prev;
    FD_CAT(rx, DT) rx;
} FN(sink);

FD_TARGET static inline void FN(sink_init)(FN(sink) *s, T *y)
{
    memset(s, 0, sizeof *s); /* (prev is read only after a put; this quiets the compiler) */
    s->y = y;
    s->off = ((sizeof(VT) - (uintptr_t)y % sizeof(VT)) % sizeof(VT)) / sizeof(T);
    FD_CAT(realign_init, DT)(&s->rx, s->off);
}

FD_TARGET static inline __attribute__((always_inline)) void FN(sink_put)(FN(sink) *s, VT v)
{
    if (!s->off)
        FD_CAT(stream, DT)(s->y + W * s->k, v);
    else if (s->k)
        FD_CAT(stream, DT)(s->y + s->off + W * (s->k - 1), FD_CAT(realign, DT)(s->prev, v, &s->rx));
    else
        FN(store_part)(s->y, s->off, v);
    s->prev = v;
    s->k++;
}

/* Stores what is left of the last vector: afterwards y[0 .. W * k) are written, and the sink
 * is empty (a second call does nothing). */
FD_TARGET static inline void FN(sink_end)(FN(sink) *s)
{
    if (s->off && s->k)
        FN(store_part)(s->y + s->off + W * (s->k - 1), W - s->off,
                       FD_CAT(realign, DT)(s->prev, s->prev, &s->rx));
    s->y += W * s->k;
    s->k = 0;
}

FD_TARGET static inline void FN(group_stream)(const T *x, FN(sink) *s, uint64_t word, V vs,
                                              int scaled)
{
    for (int c = 0; c < 64 * (int)sizeof(T); c += 64)
        __builtin_prefetch((const char *)x + FD_STREAM_PREFETCH + c);
    for (int c = 0; c < 64 / W; c++)
        FN(sink_put)(s, FN(vscale)(FN(load)(x + W * c), FN(mask)(word, c), vs, scaled));
}

FD_TARGET static inline void FN(affine_group_stream)(const T *x, FN(sink) *s, uint64_t word, V va,
                                                     V vb, V vd)
{
    for (int c = 0; c < 64 * (int)sizeof(T); c += 64)
        __builtin_prefetch((const char *)x + FD_STREAM_PREFETCH + c);
    for (int c = 0; c < 64 / W; c++)
        FN(sink_put)(s, FN(vaffine)(FN(load)(x + W * c), FN(mask)(word, c), va, vb, vd));
}
#endif

/* Chunks i, i + W, ... up to n of a loop with keep bits given (bit i of bits), OP(v, m) the
 * chunk's result: whole chunks with plain loads and stores, then a partial one. */
#define CHUNKS(OP)                                                                             \
    for (; i + W <= n; i += W)                                                                 \
        FN(store)(y + i, OP(FN(load)(x + i), FN(mask)(bits[i >> 6] >> (i & 63), 0)));         \
    if (i < n)                                                                                 \
        FN(store_part)(y + i, n - i, OP(FN(load_part)(x + i, n - i),                           \
                                        FN(mask)(bits[i >> 6] >> (i & 63), 0)));

FD_TARGET static void ENTRY(FN(apply))(const T *x, T *y, const uint64_t *bits, size_t n, S s,
                                       int scaled)
{
    const V vs = FN(set1)(scaled ? s : (S)1);
    size_t i = 0;
    if (scaled) { /* whole groups first, the branch taken out of the loop */
        for (; i + 64 <= n; i += 64)
            FN(group)(x + i, y + i, bits[i >> 6], vs, 1);
    } else {
        for (; i + 64 <= n; i += 64)
            FN(group)(x + i, y + i, bits[i >> 6], vs, 0);
    }
    /* the tail too with `scaled` a constant: Clang folds a run-time `scaled ? v * vs : v` into
     * v * (scaled ? vs : 1), which quiets signaling NaNs (vs is 1 when not scaled) */
#define OP1(v, m) FN(vscale)(v, m, vs, 1)
#define OP0(v, m) FN(vscale)(v, m, vs, 0)
    if (scaled) {
        CHUNKS(OP1)
    } else {
        CHUNKS(OP0)
    }
#undef OP1
#undef OP0
}

FD_TARGET static void ENTRY(FN(affine_bits))(const T *x, T *y, const uint64_t *bits, size_t n,
                                             S a, S b, S d)
{
    const V va = FN(set1)(a), vb = FN(set1)(b), vd = FN(set1)(d);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        FN(affine_group)(x + i, y + i, bits[i >> 6], va, vb, vd);
#define OP(v, m) FN(vaffine)(v, m, va, vb, vd)
    CHUNKS(OP)
#undef OP
}

/* The fused kernels: whole groups by FUSED_LOOP, the partial last one by apply / affine_bits. */
FD_TARGET static void ENTRY(FN(fused))(const T *x, T *y, uint64_t *bits, size_t n,
                                       const fd_philox_run *run, S s, int scaled)
{
    const V vs = FN(set1)(scaled ? s : (S)1);
#define GROUP(w, wd)                                                                           \
    (scaled ? FN(group)(x + 64 * (w), y + 64 * (w), wd, vs, 1)                                 \
            : FN(group)(x + 64 * (w), y + 64 * (w), wd, vs, 0))
#define TAIL(w) ENTRY(FN(apply))(x + 64 * (w), y + 64 * (w), bits + (w), n - 64 * (w), s, scaled)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

FD_TARGET static void ENTRY(FN(affine))(const T *x, T *y, uint64_t *bits, size_t n,
                                        const fd_philox_run *run, S a, S b, S d)
{
    const V va = FN(set1)(a), vb = FN(set1)(b), vd = FN(set1)(d);
#define GROUP(w, wd) FN(affine_group)(x + 64 * (w), y + 64 * (w), wd, va, vb, vd)
#define TAIL(w)                                                                                \
    ENTRY(FN(affine_bits))(x + 64 * (w), y + 64 * (w), bits + (w), n - 64 * (w), a, b, d)
    FUSED_LOOP(GROUP, TAIL)
#undef GROUP
#undef TAIL
}

#ifdef FD_STREAM_STORES
/* The same four with streaming stores (kernels.h: *_stream): whole groups through the sink,
 * the partial last one by the plain kernels. */
FD_TARGET static void ENTRY(FN(apply_stream))(const T *x, T *y, const uint64_t *bits, size_t n,
                                              S s, int scaled)
{
    const V vs = FN(set1)(scaled ? s : (S)1);
    FN(sink) sk;
    FN(sink_init)(&sk, y);
    size_t i = 0;
    if (scaled) {
        for (; i + 64 <= n; i += 64)
            FN(group_stream)(x + i, &sk, bits[i >> 6], vs, 1);
    } else {
        for (; i + 64 <= n; i += 64)
            FN(group_stream)(x + i, &sk, bits[i >> 6], vs, 0);
    }
    FN(sink_end)(&sk);
    if (i < n)
        ENTRY(FN(apply))(x + i, y + i, bits + (i >> 6), n - i, s, scaled);
}

FD_TARGET static void ENTRY(FN(affine_bits_stream))(const T *x, T *y, const uint64_t *bits,
                                                    size_t n, S a, S b, S d)
{
    const V va = FN(set1)(a), vb = FN(set1)(b), vd = FN(set1)(d);
    FN(sink) sk;
    FN(sink_init)(&sk, y);
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        FN(affine_group_stream)(x + i, &sk, bits[i >> 6], va, vb, vd);
    FN(sink_end)(&sk);
    if (i < n)
        ENTRY(FN(affine_bits))(x + i, y + i, bits + (i >> 6), n - i, a, b, d);
}

FD_TARGET static void ENTRY(FN(fused_stream))(const T *x, T *y, uint64_t *bits, size_t n,
                                              const fd_philox_run *run, S s, int scaled)
{
    const V vs = FN(set1)(scaled ? s : (S)1);
    FN(sink) sk;
    FN(sink_init)(&sk, y);
#define GROUP(w, wd)                                                                           \
    (scaled ? FN(group_stream)(x + 64 * (w), &sk, wd, vs, 1)                                   \
            : FN(group_stream)(x + 64 * (w), &sk, wd, vs, 0))
#define TAIL(w)                                                                                \
    do {                                                                                       \
        FN(sink_end)(&sk);                                                                     \
        ENTRY(FN(apply))(x + 64 * (w), y + 64 * (w), bits + (w), n - 64 * (w), s, scaled);     \
    } while (0)
    do {
        FUSED_LOOP(GROUP, TAIL)
        FN(sink_end)(&sk); /* (no-op after a TAIL) */
    } while (0);
#undef GROUP
#undef TAIL
}

FD_TARGET static void ENTRY(FN(affine_stream))(const T *x, T *y, uint64_t *bits, size_t n,
                                               const fd_philox_run *run, S a, S b, S d)
{
    const V va = FN(set1)(a), vb = FN(set1)(b), vd = FN(set1)(d);
    FN(sink) sk;
    FN(sink_init)(&sk, y);
#define GROUP(w, wd) FN(affine_group_stream)(x + 64 * (w), &sk, wd, va, vb, vd)
#define TAIL(w)                                                                                \
    do {                                                                                       \
        FN(sink_end)(&sk);                                                                     \
        ENTRY(FN(affine_bits))(x + 64 * (w), y + 64 * (w), bits + (w), n - 64 * (w), a, b, d); \
    } while (0)
    do {
        FUSED_LOOP(GROUP, TAIL)
        FN(sink_end)(&sk);
    } while (0);
#undef GROUP
#undef TAIL
}
#endif

#undef CHUNKS
#undef FN
#undef DT
#undef T
#undef S
#undef V
#undef VT
#undef W

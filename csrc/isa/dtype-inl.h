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
    size_t j0, nj; /* vector stores j0 .. j0 + nj - 1 fill whole cache lines: only they stream */
    VT prev;
    FD_CAT(rx, DT) rx;
} FN(sink);

/* n: the elements the call writes from y. The cache lines it writes only in part (at either
 * end) get plain stores: a line written partly by plain and partly by streaming stores costs a
 * round trip to memory (with 32-byte vectors, every tile's first line was such a line). */
FD_TARGET static inline void FN(sink_init)(FN(sink) *s, T *y, size_t n)
{
    memset(s, 0, sizeof *s); /* (prev is read only after a put; this quiets the compiler) */
    s->y = y;
    s->off = ((sizeof(VT) - (uintptr_t)y % sizeof(VT)) % sizeof(VT)) / sizeof(T);
    /* vector store j goes to base + j * sizeof(VT) */
    uintptr_t base = (uintptr_t)(y + s->off), lo = ((uintptr_t)y + 63) & ~(uintptr_t)63;
    uintptr_t hi = (uintptr_t)(y + n) & ~(uintptr_t)63;
    size_t jl = (lo - base + sizeof(VT) - 1) / sizeof(VT);
    size_t jh = hi > base ? (hi - base) / sizeof(VT) : 0;
    s->j0 = jl;
    s->nj = jh > jl ? jh - jl : 0;
    FD_CAT(realign_init, DT)(&s->rx, s->off);
}

FD_TARGET static inline __attribute__((always_inline)) void FN(sink_store)(const FN(sink) *s,
                                                                           size_t j, VT v)
{
    T *p = s->y + s->off + W * j;
    if (j - s->j0 < s->nj) /* (unsigned: j < j0 wraps to a large value) */
        FD_CAT(stream, DT)(p, v);
    else
        FN(store)(p, v);
}

FD_TARGET static inline __attribute__((always_inline)) void FN(sink_put)(FN(sink) *s, VT v)
{
    if (!s->off) /* no partial vectors: every line is written by streaming stores alone */
        FD_CAT(stream, DT)(s->y + W * s->k, v);
    else if (sizeof(VT) == 64 && s->k) /* each store a whole line */
        FD_CAT(stream, DT)(s->y + s->off + W * (s->k - 1), FD_CAT(realign, DT)(s->prev, v, &s->rx));
    else if (s->k)
        FN(sink_store)(s, s->k - 1, FD_CAT(realign, DT)(s->prev, v, &s->rx));
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

#ifdef FD_MASKED_MEMORY
/* The keep bits of the W elements from element i (any i < n) in the low bits. */
FD_TARGET static inline uint64_t FN(chunk_bits)(const uint64_t *bits, size_t i, size_t n)
{
    size_t w = i >> 6;
    unsigned sh = (unsigned)(i & 63);
    uint64_t v = bits[w] >> sh;
    if (sh + W > 64 && w + 1 <= (n - 1) >> 6)
        v |= bits[w + 1] << (64 - sh);
    return v;
}

/* With the keep bits given the chunks need not follow the 64-element groups: a partial chunk
 * first brings y to a vector boundary, so that no access in the steady state straddles two
 * cache lines (NumPy's arrays start 16 bytes into a line; in cache, split 64-byte loads and
 * stores made this path slower than AVX2's 32-byte ones). Then whole chunks, then the tail. */
#define ALIGNED_CHUNKS(OP)                                                                     \
    do {                                                                                       \
        size_t h_ = ((sizeof(VT) - (uintptr_t)y % sizeof(VT)) % sizeof(VT)) / sizeof(T);       \
        if (h_ > n)                                                                            \
            h_ = n;                                                                            \
        if (h_)                                                                                \
            FN(store_part)(y, h_, OP(FN(load_part)(x, h_), FN(mask)(bits[0], 0)));             \
        size_t i_ = h_;                                                                        \
        for (; i_ + W <= n; i_ += W)                                                           \
            FN(store)(y + i_, OP(FN(load)(x + i_), FN(mask)(FN(chunk_bits)(bits, i_, n), 0)));  \
        if (i_ < n)                                                                            \
            FN(store_part)(y + i_, n - i_, OP(FN(load_part)(x + i_, n - i_),                   \
                                              FN(mask)(FN(chunk_bits)(bits, i_, n), 0)));      \
    } while (0)
#endif

FD_TARGET static void ENTRY(FN(apply))(const T *x, T *y, const uint64_t *bits, size_t n, S s,
                                       int scaled)
{
    const V vs = FN(set1)(scaled ? s : (S)1);
#ifdef FD_MASKED_MEMORY
#define OP1(v, m) FN(vscale)(v, m, vs, 1)
#define OP0(v, m) FN(vscale)(v, m, vs, 0)
    if (scaled)
        ALIGNED_CHUNKS(OP1);
    else
        ALIGNED_CHUNKS(OP0);
#undef OP1
#undef OP0
    return;
#endif
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
#define OP(v, m) FN(vaffine)(v, m, va, vb, vd)
#ifdef FD_MASKED_MEMORY
    ALIGNED_CHUNKS(OP);
#else
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        FN(affine_group)(x + i, y + i, bits[i >> 6], va, vb, vd);
    CHUNKS(OP)
#endif
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
    FN(sink_init)(&sk, y, n);
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
    FN(sink_init)(&sk, y, n);
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
    FN(sink_init)(&sk, y, n);
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
    FN(sink_init)(&sk, y, n);
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
#undef ALIGNED_CHUNKS
#undef FN
#undef DT
#undef T
#undef S
#undef V
#undef VT
#undef W

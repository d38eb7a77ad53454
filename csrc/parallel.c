/* Threads: the only file with an OpenMP parallel region.
 *
 * fork: GNU libgomp keeps its thread pool in the calling thread's thread-local state and does
 * not rebuild it in a forked child, whose copy of that pool names threads that no longer exist:
 * the child's first parallel region waits for them forever. A thread created in the child has
 * no pool yet and gets a fresh one. So after a fork, a parallel region asked for by the thread
 * that forked is handed to a helper thread, started on first use, which opens the region
 * itself: the child keeps its threads, and the bits (never a function of the thread count)
 * stay the same. Other threads of the child, and processes that never forked, call OpenMP
 * directly. */
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#include <pthread.h>
#endif

#define PARALLEL_THRESHOLD 65536 /* smaller calls stay on the calling thread */

int fd_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fd_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

size_t fd_parallel_threshold(void) { return PARALLEL_THRESHOLD; }

int fd_team_size(size_t n, size_t units, int nthreads)
{
    if (nthreads < 1 || n < PARALLEL_THRESHOLD)
        return 1;
    if ((size_t)nthreads > units)
        nthreads = units ? (int)units : 1;
    return nthreads;
}

typedef struct {
    int (*body)(void *ctx, int t, int nt);
    void *ctx;
    int nthreads;
} region;

static int run_region(const region *r)
{
#ifdef _OPENMP
    if (r->nthreads > 1) {
        int rc = 0;
#pragma omp parallel num_threads(r->nthreads) reduction(| : rc)
        rc |= r->body(r->ctx, omp_get_thread_num(), omp_get_num_threads());
        return rc;
    }
#endif
    return r->body(r->ctx, 0, 1);
}

#ifdef _OPENMP
/* After a fork: the forking thread's regions run on `helper` (see the top of this file). */
static struct {
    int forked;             /* this process is a fork child */
    pthread_t fork_thread;  /* the thread that forked, whose OpenMP pool is stale */
    int started;            /* the helper thread runs */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const region *job;      /* the region to run, NULL when idle */
    int done, rc;
} after_fork = {0};

static void *helper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&after_fork.mu);
    for (;;) {
        while (!after_fork.job)
            pthread_cond_wait(&after_fork.cv, &after_fork.mu);
        const region *r = after_fork.job;
        pthread_mutex_unlock(&after_fork.mu);
        int rc = run_region(r);
        pthread_mutex_lock(&after_fork.mu);
        after_fork.job = NULL;
        after_fork.rc = rc;
        after_fork.done = 1;
        pthread_cond_broadcast(&after_fork.cv);
    }
    return NULL;
}

/* Runs in the child of every fork(): no thread but the forking one survives. */
static void child_after_fork(void)
{
    after_fork.forked = 1;
    after_fork.fork_thread = pthread_self();
    after_fork.started = 0;
    after_fork.job = NULL;
    pthread_mutex_init(&after_fork.mu, NULL);
    pthread_cond_init(&after_fork.cv, NULL);
}

__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_mutex_init(&after_fork.mu, NULL);
    pthread_cond_init(&after_fork.cv, NULL);
    pthread_atfork(NULL, NULL, child_after_fork);
}

/* Run r on the helper; -1 when no helper thread can be made (the caller then runs serially). */
static int run_on_helper(const region *r, int *rc)
{
    if (!after_fork.started) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (err)
            return -1;
        after_fork.started = 1;
    }
    pthread_mutex_lock(&after_fork.mu);
    after_fork.done = 0;
    after_fork.job = r;
    pthread_cond_broadcast(&after_fork.cv);
    while (!after_fork.done)
        pthread_cond_wait(&after_fork.cv, &after_fork.mu);
    *rc = after_fork.rc;
    pthread_mutex_unlock(&after_fork.mu);
    return 0;
}
#endif

int fd_parallel(int nthreads, int (*body)(void *ctx, int t, int nt), void *ctx)
{
    region r = {body, ctx, nthreads};
#ifdef _OPENMP
    /* only the forking thread calls here with a stale pool, so the helper serves one caller */
    if (nthreads > 1 && after_fork.forked && pthread_equal(pthread_self(), after_fork.fork_thread)
        && !omp_in_parallel()) {
        int rc;
        if (run_on_helper(&r, &rc) == 0)
            return rc;
        r.nthreads = 1;
    }
#endif
    return run_region(&r);
}

typedef struct {
    size_t n, chunk, nchunks;
    void (*fn)(const void *ctx, size_t lo, size_t hi);
    const void *ctx;
} chunks_job;

static int chunks_body(void *arg, int t, int nt)
{
    const chunks_job *j = (const chunks_job *)arg;
    size_t lo, hi;
    fd_share(j->nchunks, t, nt, &lo, &hi);
    lo *= j->chunk;
    hi = hi * j->chunk < j->n ? hi * j->chunk : j->n;
    if (lo < hi)
        j->fn(j->ctx, lo, hi);
    return 0;
}

void fd_parallel_chunks(size_t n, size_t chunk, int nthreads,
                        void (*fn)(const void *ctx, size_t lo, size_t hi), const void *ctx)
{
    if (n == 0)
        return;
    chunks_job j = {n, chunk, (n + chunk - 1) / chunk, fn, ctx};
    fd_parallel(fd_team_size(n, j.nchunks, nthreads), chunks_body, &j);
}

static int count_body(void *arg, int t, int nt)
{
    (void)t;
    if (t == 0)
        *(int *)arg = nt;
    return 0;
}

int fd_parallel_team_size(int nthreads)
{
    int nt = 0;
    fd_parallel(nthreads, count_body, &nt);
    return nt;
}

/* Bounded worker pool: forks threads take jobs by index until none is left. */
#include <pthread.h>
#include <stdlib.h>

#include "spamstop/error.h"
#include "spamstop/pool.h"

struct pool {
    pthread_mutex_t lock;
    size_t next;
    size_t n;
    void (*fn)(void *arg, size_t i);
    int (*should_start)(void *arg, size_t i);
    void *arg;
};

/* Takes the next job index; returns 0 when none is left. */
static int pool_take(struct pool *p, size_t *out)
{
    int got = 0;

    pthread_mutex_lock(&p->lock);
    if (p->next < p->n) {
        *out = p->next++;
        got = 1;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    size_t i;

    while (pool_take(p, &i)) {
        if (p->should_start != NULL && !p->should_start(p->arg, i))
            continue;
        p->fn(p->arg, i);
    }
    return NULL;
}

int pool_run(size_t n, int forks, void (*fn)(void *arg, size_t i),
             int (*should_start)(void *arg, size_t i), void *arg)
{
    struct pool p;
    pthread_t *threads = NULL;
    size_t nthreads, started = 0, i;
    int r = 0;

    p.next = 0;
    p.n = n;
    p.fn = fn;
    p.should_start = should_start;
    p.arg = arg;
    pthread_mutex_init(&p.lock, NULL);
    nthreads = forks < 1 ? 1 : (size_t)forks;
    if (nthreads > n)
        nthreads = n;
    /* The calling thread is one of the workers. */
    if (nthreads > 1)
        threads = calloc(nthreads - 1, sizeof(*threads));
    if (threads != NULL) {
        for (i = 0; i + 1 < nthreads; i++) {
            if (pthread_create(&threads[i], NULL, pool_worker, &p) != 0) {
                r = SS_ERR;
                break;
            }
            started++;
        }
    }
    /* A failed create leaves fewer workers, never none. */
    pool_worker(&p);
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    pthread_mutex_destroy(&p.lock);
    return r;
}

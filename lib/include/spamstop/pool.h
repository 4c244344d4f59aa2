/* A bounded pool of worker threads over a list of jobs (one per host). */
#ifndef SPAMSTOP_POOL_H
#define SPAMSTOP_POOL_H

#include <stddef.h>

/*
 * Runs fn(arg, i) for i in [0, n) on at most forks threads (forks < 1
 * means 1).  Jobs start in index order.  Before starting job i a worker
 * calls should_start(arg, i) if it is not NULL; when that returns 0 the job
 * is skipped (fn is not called) -- this is how --max-fail stops starting new
 * hosts.  Returns 0, or SS_ERR if threads could not be created (then the
 * calling thread runs the jobs itself).
 */
int pool_run(size_t n, int forks, void (*fn)(void *arg, size_t i),
             int (*should_start)(void *arg, size_t i), void *arg);

#endif

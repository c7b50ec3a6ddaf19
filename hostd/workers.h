/* workers.h — a fixed pool of worker threads running queued jobs in order. */
#pragma once

#include <stddef.h>

typedef struct hostd_workers hostd_workers;

hostd_workers *hostd_workers_start(unsigned n);
/* Queue fn(ctx, arg); free_arg(arg) runs after it (or at stop, if never run).
 * Matches orch_submit_fn so the orchestrator can use the pool directly. */
void hostd_workers_submit(void *pool, void (*fn)(void *ctx, void *arg), void *ctx, void *arg,
                          void (*free_arg)(void *));
/* Let running jobs finish, drop queued ones, join the threads. Returns how
 * many queued jobs were dropped. */
size_t hostd_workers_stop(hostd_workers *w);

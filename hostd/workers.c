/* workers.c — the worker pool: a mutex-protected FIFO and n threads. */
#include "hostd/workers.h"

#include "common/buf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
        void (*fn)(void *ctx, void *arg);
        void *ctx, *arg;
        void (*free_arg)(void *);
        struct job *next;
} job;

struct hostd_workers {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        job *head, *tail;
        bool stopping;
        unsigned n;
        pthread_t *threads;
};

static void *worker_main(void *p)
{
        hostd_workers *w = p;

        for (;;) {
                job *j;

                pthread_mutex_lock(&w->lock);
                while (!w->head && !w->stopping)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stopping) {
                        pthread_mutex_unlock(&w->lock);
                        return NULL;
                }
                j = w->head;
                w->head = j->next;
                if (!w->head)
                        w->tail = NULL;
                pthread_mutex_unlock(&w->lock);
                j->fn(j->ctx, j->arg);
                if (j->free_arg)
                        j->free_arg(j->arg);
                free(j);
        }
}

hostd_workers *hostd_workers_start(unsigned n)
{
        hostd_workers *w = hd_malloc0(sizeof(*w));

        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->threads = hd_malloc0(n * sizeof(pthread_t));
        for (unsigned i = 0; i < n; i++)
                if (pthread_create(&w->threads[i], NULL, worker_main, w) == 0)
                        w->n++;
        if (w->n == 0)
                abort();
        return w;
}

void hostd_workers_submit(void *pool, void (*fn)(void *ctx, void *arg), void *ctx, void *arg,
                          void (*free_arg)(void *))
{
        hostd_workers *w = pool;
        job *j = hd_malloc0(sizeof(*j));

        *j = (job){fn, ctx, arg, free_arg, NULL};
        pthread_mutex_lock(&w->lock);
        if (w->tail)
                w->tail->next = j;
        else
                w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
}

size_t hostd_workers_stop(hostd_workers *w)
{
        size_t dropped = 0;

        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->n; i++)
                pthread_join(w->threads[i], NULL);
        for (job *j = w->head, *next; j; j = next) {
                next = j->next;
                if (j->free_arg)
                        j->free_arg(j->arg);
                free(j);
                dropped++;
        }
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->threads);
        free(w);
        return dropped;
}

/* deadline.c — close connections that are too slow to send their request
 * (slowloris): libmicrohttpd's own timeout is reset by every byte, so a
 * client sending one byte every few seconds would hold its connection for
 * ever. Here each connection has absolute deadlines for its headers and
 * for its whole request; a thread shuts down the sockets that miss them. */
#include "api/limits.h"

#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

struct api_conn_deadline {
        int fd;
        uint64_t header_at;   /* 0: met or off */
        uint64_t request_at;  /* 0: met or off */
        api_conn_deadline *prev, *next;
};

struct api_deadlines {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        uint64_t header_ms, request_ms;
        api_conn_deadline *head;
        atomic_uint_fast64_t cut;
        pthread_t thread;
        bool running, stopping;
};

api_deadlines *api_deadlines_new(unsigned header_s, unsigned request_s)
{
        api_deadlines *d = hd_malloc0(sizeof(*d));

        d->header_ms = (uint64_t)header_s * 1000;
        d->request_ms = (uint64_t)request_s * 1000;
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->wake, NULL);
        return d;
}

static void *sweeper(void *arg)
{
        api_deadlines *d = arg;

        pthread_mutex_lock(&d->lock);
        while (!d->stopping) {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 250 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&d->wake, &d->lock, &ts);
                if (d->stopping)
                        break;
                pthread_mutex_unlock(&d->lock);
                api_deadlines_sweep(d, api_now_ms());
                pthread_mutex_lock(&d->lock);
        }
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

int api_deadlines_start(api_deadlines *d)
{
        if (d->running)
                return 0;
        if (pthread_create(&d->thread, NULL, sweeper, d) != 0)
                return -1;
        d->running = true;
        return 0;
}

void api_deadlines_free(api_deadlines *d)
{
        if (!d)
                return;
        if (d->running) {
                pthread_mutex_lock(&d->lock);
                d->stopping = true;
                pthread_cond_signal(&d->wake);
                pthread_mutex_unlock(&d->lock);
                pthread_join(d->thread, NULL);
        }
        while (d->head) {
                api_conn_deadline *c = d->head;
                d->head = c->next;
                free(c);
        }
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
}

static void arm(const api_deadlines *d, api_conn_deadline *c, uint64_t now_ms)
{
        c->header_at = d->header_ms ? now_ms + d->header_ms : 0;
        c->request_at = d->request_ms ? now_ms + d->request_ms : 0;
}

api_conn_deadline *api_deadlines_open(api_deadlines *d, int fd, uint64_t now_ms)
{
        api_conn_deadline *c = hd_malloc0(sizeof(*c));

        c->fd = fd;
        pthread_mutex_lock(&d->lock);
        arm(d, c, now_ms);
        c->next = d->head;
        if (d->head)
                d->head->prev = c;
        d->head = c;
        pthread_mutex_unlock(&d->lock);
        return c;
}

void api_deadlines_headers(api_deadlines *d, api_conn_deadline *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&d->lock);
        c->header_at = 0;
        pthread_mutex_unlock(&d->lock);
}

void api_deadlines_received(api_deadlines *d, api_conn_deadline *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&d->lock);
        c->header_at = 0;
        c->request_at = 0;
        pthread_mutex_unlock(&d->lock);
}

void api_deadlines_rearm(api_deadlines *d, api_conn_deadline *c, uint64_t now_ms)
{
        if (!c)
                return;
        pthread_mutex_lock(&d->lock);
        arm(d, c, now_ms);
        pthread_mutex_unlock(&d->lock);
}

void api_deadlines_close(api_deadlines *d, api_conn_deadline *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&d->lock);
        if (c->prev)
                c->prev->next = c->next;
        else
                d->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        pthread_mutex_unlock(&d->lock);
        free(c);
}

static bool past(uint64_t at, uint64_t now_ms)
{
        return at && now_ms >= at;
}

/* The lock is held while shutting down: a connection is forgotten (close)
 * before its fd is closed, so an fd here is never one reused by another. */
size_t api_deadlines_sweep(api_deadlines *d, uint64_t now_ms)
{
        size_t n = 0;

        pthread_mutex_lock(&d->lock);
        for (api_conn_deadline *c = d->head; c; c = c->next) {
                if (!past(c->header_at, now_ms) && !past(c->request_at, now_ms))
                        continue;
                shutdown(c->fd, SHUT_RDWR);
                c->header_at = c->request_at = 0;
                n++;
        }
        pthread_mutex_unlock(&d->lock);
        atomic_fetch_add(&d->cut, n);
        return n;
}

uint64_t api_deadlines_cut(api_deadlines *d)
{
        return atomic_load(&d->cut);
}

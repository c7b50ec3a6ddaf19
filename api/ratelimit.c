/* ratelimit.c — authentication failures per source address: a token bucket
 * per address in a fixed-size, set-associative table, so that an attacker
 * guessing tokens gets 429 after a few tries and memory stays constant
 * whatever the number of addresses. */
#include "api/limits.h"

#include "common/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define WAYS 8                  /* addresses per set: where one may evict another */
#define MILLI 1000u             /* bucket levels are in thousandths of a token */

typedef struct entry {
        char key[API_ADDR_KEY_MAX]; /* "" free */
        uint64_t level;             /* thousandths of a token left */
        uint64_t stamp_ms;          /* when level was last brought up to date */
} entry;

struct api_ratelimit {
        pthread_mutex_t lock;
        unsigned per_minute;
        uint64_t seed;              /* random: which addresses share a set is unpredictable */
        size_t n_sets;
        entry *table;               /* n_sets * WAYS */
};

api_ratelimit *api_ratelimit_new(unsigned per_minute, size_t slots)
{
        api_ratelimit *rl = hd_malloc0(sizeof(*rl));

        rl->per_minute = per_minute ? per_minute : 1;
        rl->n_sets = (slots + WAYS - 1) / WAYS;
        if (rl->n_sets == 0)
                rl->n_sets = 1;
        rl->table = hd_malloc0(rl->n_sets * WAYS * sizeof(entry));
        if (getrandom(&rl->seed, sizeof(rl->seed), 0) != sizeof(rl->seed))
                rl->seed = (uint64_t)(uintptr_t)rl ^ api_now_ms();
        pthread_mutex_init(&rl->lock, NULL);
        return rl;
}

void api_ratelimit_free(api_ratelimit *rl)
{
        if (!rl)
                return;
        pthread_mutex_destroy(&rl->lock);
        free(rl->table);
        free(rl);
}

/* FNV-1a over the seed and the key. */
static entry *set_of(api_ratelimit *rl, const char *key)
{
        uint64_t h = 14695981039346656037ull ^ rl->seed;

        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
                h = (h ^ *p) * 1099511628211ull;
        h ^= h >> 29;
        return &rl->table[(h % rl->n_sets) * WAYS];
}

/* Bring e's level up to now: per_minute tokens refill in 60 000 ms. */
static uint64_t refill(const api_ratelimit *rl, entry *e, uint64_t now_ms)
{
        uint64_t full = (uint64_t)rl->per_minute * MILLI;

        if (now_ms > e->stamp_ms) {
                uint64_t gained = (now_ms - e->stamp_ms) * rl->per_minute / 60;
                e->level = gained >= full - e->level ? full : e->level + gained;
                e->stamp_ms = now_ms;
        }
        return e->level;
}

static entry *find(api_ratelimit *rl, const char *key)
{
        entry *set = set_of(rl, key);

        for (size_t i = 0; i < WAYS; i++)
                if (set[i].key[0] && strcmp(set[i].key, key) == 0)
                        return &set[i];
        return NULL;
}

/* A slot for a new key: a free one, else the one closest to a full bucket
 * (a full bucket says nothing: dropping it loses nothing). */
static entry *make_room(api_ratelimit *rl, const char *key, uint64_t now_ms)
{
        entry *set = set_of(rl, key), *best = NULL;

        for (size_t i = 0; i < WAYS; i++) {
                if (!set[i].key[0])
                        return &set[i];
                if (!best || refill(rl, &set[i], now_ms) > best->level)
                        best = &set[i];
        }
        return best;
}

unsigned api_ratelimit_check(api_ratelimit *rl, const char *addr, uint64_t now_ms)
{
        unsigned wait = 0;
        entry *e;

        pthread_mutex_lock(&rl->lock);
        e = find(rl, addr);
        if (e && refill(rl, e, now_ms) < MILLI) {
                /* Milliseconds until one whole token is back, rounded up to seconds. */
                uint64_t ms = ((MILLI - e->level) * 60 + rl->per_minute - 1) / rl->per_minute;
                wait = (unsigned)((ms + 999) / 1000);
                if (wait == 0)
                        wait = 1;
        }
        pthread_mutex_unlock(&rl->lock);
        return wait;
}

void api_ratelimit_failed(api_ratelimit *rl, const char *addr, uint64_t now_ms)
{
        entry *e;

        if (!*addr || strlen(addr) >= API_ADDR_KEY_MAX)
                return;
        pthread_mutex_lock(&rl->lock);
        e = find(rl, addr);
        if (!e) {
                e = make_room(rl, addr, now_ms);
                snprintf(e->key, sizeof(e->key), "%s", addr);
                e->level = (uint64_t)rl->per_minute * MILLI;
                e->stamp_ms = now_ms;
        }
        refill(rl, e, now_ms);
        e->level = e->level >= MILLI ? e->level - MILLI : 0;
        pthread_mutex_unlock(&rl->lock);
}

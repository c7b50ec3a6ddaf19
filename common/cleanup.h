/* cleanup.h — scope-bound cleanup helpers (the systemd style).
 *
 * A variable declared `_cleanup_free_ char *s = NULL;` is freed when it goes
 * out of scope, so every early return releases what the function owns.
 * Ownership leaves a function only through an explicit steal_ptr()/steal_fd(). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void hd_freep(void *p)
{
        free(*(void **)p);
}

static inline void hd_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}

static inline void hd_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(hd_freep)
#define _cleanup_close_ _cleanup_(hd_closep)
#define _cleanup_fclose_ _cleanup_(hd_fclosep)

/* Define `name##p` that calls func on a non-NULL pointer, for
 * `_cleanup_(name##p)` with library types (xmlDoc, json_t, sqlite3…). */
#define HD_DEFINE_CLEANUP(type, func)                  \
        static inline void func##p(type *p)            \
        {                                              \
                if (*p)                                \
                        func(*p);                      \
        }

/* Take ownership out of a cleanup variable. */
#define steal_ptr(p)                          \
        ({                                    \
                __typeof__(p) steal_tmp_ = (p); \
                (p) = NULL;                   \
                steal_tmp_;                   \
        })

static inline int steal_fd(int *fd)
{
        int r = *fd;
        *fd = -1;
        return r;
}

#define HD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

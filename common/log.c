/* log.c — leveled log lines to stderr, journald-aware. */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static hd_log_level max_level = HD_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
        [HD_LOG_ERR] = "error", [HD_LOG_WARNING] = "warning", [HD_LOG_NOTICE] = "notice",
        [HD_LOG_INFO] = "info", [HD_LOG_DEBUG] = "debug",
};

void hd_log_set_level(hd_log_level max)
{
        max_level = max;
}

int hd_log_level_parse(const char *s)
{
        for (int i = HD_LOG_ERR; i <= HD_LOG_DEBUG; i++)
                if (strcmp(s, level_names[i]) == 0)
                        return i;
        return -1;
}

void hd_log(hd_log_level level, const char *fmt, ...)
{
        char msg[2048];
        va_list ap;

        if (level > max_level)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        pthread_mutex_lock(&log_lock);
        if (getenv("JOURNAL_STREAM")) {
                fprintf(stderr, "<%d>%s\n", (int)level, msg);
        } else {
                struct timespec ts;
                struct tm tm;
                char when[32];

                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
                fprintf(stderr, "%s %s: %s\n", when, level_names[level], msg);
        }
        fflush(stderr);
        pthread_mutex_unlock(&log_lock);
}

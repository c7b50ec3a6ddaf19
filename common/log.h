/* log.h — leveled logging for programs (hostd, wsctl); library code does not log.
 *
 * Lines go to stderr with a syslog priority prefix ("<3>") when stderr is the
 * journal (JOURNAL_STREAM set), so journald keeps the level; else a plain
 * "level: message" line with a timestamp. */
#pragma once

typedef enum hd_log_level {
        HD_LOG_ERR = 3,
        HD_LOG_WARNING = 4,
        HD_LOG_NOTICE = 5,
        HD_LOG_INFO = 6,
        HD_LOG_DEBUG = 7,
} hd_log_level;

void hd_log_set_level(hd_log_level max);
/* Parse "error", "warning", "notice", "info", "debug"; -1 when unknown. */
int hd_log_level_parse(const char *s);
void hd_log(hd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) hd_log(HD_LOG_ERR, __VA_ARGS__)
#define log_warning(...) hd_log(HD_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) hd_log(HD_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) hd_log(HD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) hd_log(HD_LOG_DEBUG, __VA_ARGS__)

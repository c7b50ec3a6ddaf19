/* agent.h — internal declarations of hostd-agent, the in-guest workspace agent.
 *
 * The agent is a small static program that links libc only (no common/, no
 * libraries): it runs inside guests of any distribution. It speaks protocol
 * version 1 (docs/agent-protocol.md) to hostd over a virtio-serial port:
 * newline-delimited JSON objects, one per line, at most AG_LINE_MAX bytes.
 *
 * Every file but main.c is free of process-wide state other than the log
 * level, so tests can #include the .c files they exercise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>

#define AG_VERSION "0.1.0"
#define AG_PROTO 1
#define AG_LINE_MAX 65536 /* bytes of one message, newline excluded */

#define _ag_cleanup_(f) __attribute__((cleanup(f)))
static inline void ag_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
#define _ag_cleanup_close_ _ag_cleanup_(ag_closep)

/* ---- log.c: lines on stderr with a "<N>" syslog priority prefix ------------ */
enum { AG_LOG_ERR = 3, AG_LOG_WARNING = 4, AG_LOG_NOTICE = 5, AG_LOG_INFO = 6, AG_LOG_DEBUG = 7 };
void ag_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy s into out (size > 0) with control characters replaced by '?' and at
 * most size-1 bytes, so text from outside cannot forge extra log lines. */
void ag_log_sanitize(const char *s, char *out, size_t size);
/* Milliseconds of CLOCK_MONOTONIC. */
int64_t ag_mono_ms(void);
/* Read a whole (small, possibly /proc) file into buf, NUL-terminated.
 * Returns its length, or -1 with errno set (EFBIG when it does not fit). */
ssize_t ag_read_file(const char *path, char *buf, size_t size);
/* ag_read_file, then strip trailing whitespace; -1 when missing or empty. */
ssize_t ag_read_value(const char *path, char *buf, size_t size);

/* ---- spawn.c: helper programs ----------------------------------------------- */
/* posix_spawn path (no shell) in its own process group, stdin /dev/null,
 * stdout on out_fd, stderr on err_fd (-1: /dev/null), in /, with default
 * signal actions and an empty mask. The pid, or -1 with errno. */
pid_t ag_spawn(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd);

/* ---- json_write.c: a bounded JSON writer ----------------------------------- */
#define AG_JW_DEPTH 16
typedef struct ag_jw {
        char *buf;
        size_t cap, len;
        bool overflow; /* the text did not fit or nesting was wrong */
        int depth;
        bool first[AG_JW_DEPTH]; /* no member/element written yet at this level */
        bool after_key;
} ag_jw;

void ag_jw_init(ag_jw *w, char *buf, size_t cap);
void ag_jw_obj_begin(ag_jw *w);
void ag_jw_obj_end(ag_jw *w);
void ag_jw_arr_begin(ag_jw *w);
void ag_jw_arr_end(ag_jw *w);
void ag_jw_key(ag_jw *w, const char *key);
/* Strings are escaped; valid UTF-8 passes through, invalid bytes become U+FFFD. */
void ag_jw_str_len(ag_jw *w, const char *s, size_t len);
void ag_jw_str(ag_jw *w, const char *s);
void ag_jw_int(ag_jw *w, long long v);
void ag_jw_fixed2(ag_jw *w, double v); /* "%.2f"; NaN and infinities become null */
void ag_jw_null(ag_jw *w);
void ag_jw_bool(ag_jw *w, bool v);
/* Length of the finished text (NUL-terminated in buf), or -1 when it did not
 * fit in cap-1 bytes or an object/array was left open. */
ssize_t ag_jw_finish(ag_jw *w);

/* ---- json_read.c: a bounded, validating JSON reader ------------------------ */
typedef enum ag_jtype { AG_J_NONE, AG_J_NULL, AG_J_BOOL, AG_J_NUM, AG_J_STR, AG_J_ARR, AG_J_OBJ } ag_jtype;
typedef struct ag_jval {
        ag_jtype type;
        const char *p, *end; /* the value's raw text */
} ag_jval;
typedef struct ag_jiter {
        const char *p, *end;
} ag_jiter;

#define AG_JSON_DEPTH 32
/* Parse len bytes as exactly one JSON value (whitespace around it allowed).
 * Never reads outside [s, s+len); 0, or -1 on anything not JSON. */
int ag_json_parse(const char *s, size_t len, ag_jval *out);
/* The first member named key of object obj; 0, or -1 when absent/not an object. */
int ag_json_get(const ag_jval *obj, const char *key, ag_jval *out);
/* Iterate an array's elements: ag_json_iter(), then ag_json_next() until false. */
void ag_json_iter(const ag_jval *arr, ag_jiter *it);
bool ag_json_next(ag_jiter *it, ag_jval *out);
/* Decode a string value into buf (NUL-terminated, cut at a character
 * boundary when too long; \u0000 and lone surrogates become U+FFFD). */
int ag_json_str(const ag_jval *v, char *buf, size_t size);
/* An integral number value within long long; 0 or -1. */
int ag_json_int(const ag_jval *v, long long *out);

/* ---- collect.c and sessions.c: what a heartbeat reports -------------------- */
typedef struct ag_paths {
        const char *proc; /* /proc */
        const char *run;  /* /run: utmp, cloud-init/ */
        const char *dev;  /* /dev: pts/N for input age */
} ag_paths;

#define AG_MAX_ADDRS 64
typedef struct ag_addr {
        char iface[IF_NAMESIZE];
        bool inet6;
        char address[INET6_ADDRSTRLEN];
        int prefix;
} ag_addr;

/* NVIDIA GPUs (gpu.c); -1 is unknown (null), never 0. */
typedef struct ag_gpu {
        int util_pct; /* the highest utilisation over the GPUs, 0-100 */
        int gpus;     /* how many GPUs nvidia-smi listed */
} ag_gpu;

typedef struct ag_sample {
        long long uptime_s;                          /* -1: unknown */
        bool have_load;
        double load[3];
        long long mem_total_kib, mem_available_kib; /* -1: unknown */
        int ssh_sessions;                            /* -1: unknown */
        int users;                                   /* -1: unknown */
        long long last_input_age_s;                  /* -1: no terminal (null) */
        int naddrs;
        ag_addr addrs[AG_MAX_ADDRS];
        ag_gpu gpu;                                  /* filled by ag_gpu_cached() */
} ag_sample;

int ag_read_uptime(const char *proc, long long *out);
int ag_read_loadavg(const char *proc, double load[3]);
int ag_read_meminfo(const char *proc, long long *total_kib, long long *avail_kib);
struct ifaddrs;
/* Usable addresses of list: no loopback, no link-local IPv6, interface up. */
int ag_collect_addrs(const struct ifaddrs *list, ag_addr *out, int max);
/* Everything, at wall-clock time now, with the addresses from ifs. */
void ag_collect(const ag_paths *paths, time_t now, const struct ifaddrs *ifs, ag_sample *s);
/* ag_collect() now, with the guest's own interfaces (getifaddrs). */
void ag_collect_now(const ag_paths *paths, ag_sample *s);

/* sessions.c */
/* SSH sessions: "sshd: USER@TTY" processes whose parent is a root-owned
 * "sshd: USER [priv]" monitor. -1 when proc cannot be read. */
int ag_count_ssh_sessions(const char *proc);
/* From utmp (run/utmp): distinct logged-in users whose session process is
 * alive, and the seconds since the last input on any of their terminals
 * (now - atime of dev/<ut_line>, -1 when none has one). 0 or -1. */
int ag_read_logins(const ag_paths *paths, time_t now, int *users, long long *input_age_s);

/* ---- gpu.c: NVIDIA GPU utilisation from nvidia-smi ------------------------ */
#define AG_GPU_TIMEOUT_MS 5000      /* nvidia-smi is killed after this long */
#define AG_GPU_OUT_MAX 65536        /* bytes of its output; more is garbage */
#define AG_GPU_HUNG_RETRY_MS 60000  /* a timed-out nvidia-smi is not run again sooner */
typedef struct ag_gpu_cache {
        bool valid;
        bool hung;     /* the last query timed out */
        int64_t at_ms; /* ag_mono_ms() when the last query ended */
        ag_gpu last;
} ag_gpu_cache;
/* The first executable nvidia-smi in /usr/bin, /usr/local/bin,
 * /usr/local/nvidia/bin, written into buf; NULL when there is none. */
const char *ag_gpu_find_smi(char *buf, size_t size);
/* Read nvidia-smi's output strictly: one integer 0-100 per line ("[N/A]"
 * lines count as GPUs of unknown utilisation). 0, or -1 (g unknown) on
 * anything else. No lines: 0 GPUs, utilisation unknown. */
int ag_gpu_parse(const char *text, size_t len, ag_gpu *g);
/* Run smi (an absolute path; no shell) and parse its output, killing its
 * process group after timeout_ms. The wait is a ppoll with waitmask; a
 * signal ends it only when *stop is set (stop may be NULL). 0, or -1 with g
 * unknown and errno: ETIMEDOUT, EFBIG (output over AG_GPU_OUT_MAX), EPROTO
 * (non-zero exit or garbage), EINTR (stopping), or posix_spawn's error. */
int ag_gpu_query(const char *smi, int timeout_ms, ag_gpu *g, const sigset_t *waitmask,
                 const volatile sig_atomic_t *stop);
/* The cached result while younger than max_age_ms, else a new query of smi
 * (NULL: ag_gpu_find_smi()); a time-out is kept for AG_GPU_HUNG_RETRY_MS
 * at least, so a hung nvidia-smi delays one heartbeat, not every one. */
void ag_gpu_cached(ag_gpu_cache *c, const char *smi, int64_t max_age_ms, ag_gpu *g,
                   const sigset_t *waitmask, const volatile sig_atomic_t *stop);

/* ---- cloudinit.c: has cloud-init finished? ---------------------------------- */
#define AG_CI_MAX_ERRORS 16
#define AG_CI_ERROR_LEN 512
typedef enum ag_ci_status { AG_CI_PENDING, AG_CI_DONE, AG_CI_ERROR, AG_CI_DISABLED } ag_ci_status;
typedef struct ag_cloudinit {
        ag_ci_status status;
        int nerrors;
        char errors[AG_CI_MAX_ERRORS][AG_CI_ERROR_LEN];
} ag_cloudinit;
void ag_cloudinit_read(const char *run, ag_cloudinit *ci);
const char *ag_ci_status_name(ag_ci_status s);

/* ---- startup.c: the template's startup script, once per workspace ---------- */
#define AG_STARTUP_TIMEOUT_S 3600     /* time limit when <config-dir>/startup-timeout says none */
#define AG_STARTUP_CI_WAIT_S 1800     /* longest wait for cloud-init; then the script runs anyway */
#define AG_STARTUP_OUTPUT_MAX 65536   /* bytes of the output's end reported to hostd */
#define AG_STARTUP_KILL_GRACE_MS 10000 /* SIGTERM to SIGKILL when the script is ended */

typedef enum ag_startup_status { AG_SU_RUNNING, AG_SU_SUCCEEDED, AG_SU_FAILED, AG_SU_TIMED_OUT } ag_startup_status;

typedef struct ag_startup_cfg {
        const char *script;       /* <config-dir>/startup-script */
        const char *state_dir;    /* /var/lib/hostd-agent: startup.json and startup.log */
        const char *run;          /* /run: cloud-init's result */
        const char *workspace_id; /* the record is for this workspace only */
        int timeout_s;            /* the script's time limit */
        int ci_wait_s;            /* longest wait for cloud-init */
        int kill_grace_ms;        /* SIGTERM, then SIGKILL this much later */
} ag_startup_cfg;

/* startup.json: the run's record (docs/agent-protocol.md, "startup"). */
typedef struct ag_startup_record {
        ag_startup_status status;
        char workspace_id[256];
        long long started_at, finished_at; /* seconds since the epoch; 0 unknown */
        int exit_status;                   /* -1: none (killed, or never ran) */
        int signal;                        /* the signal that ended it; 0 none */
        int timeout_s;
        long long output_bytes;            /* length of startup.log when the script ended */
        char note[512];                    /* why it did not run normally; "" none */
} ag_startup_record;

const char *ag_startup_status_name(ag_startup_status s);
/* Read / write (atomically, fsync'ed) <state_dir>/startup.json; 0 or -1 with errno
 * (EPROTO: not a record). */
int ag_startup_read(const char *state_dir, ag_startup_record *r);
int ag_startup_write(const char *state_dir, const ag_startup_record *r);
/* Should the script run now? True when it exists and this workspace has no
 * record. A record left "running" (the guest or the agent stopped while it
 * ran) is rewritten as failed, and the script is not run again. */
bool ag_startup_due(const ag_startup_cfg *c);
/* After the runner died: a record it left "running" becomes failed with why. */
void ag_startup_abandon(const ag_startup_cfg *c, const char *why);
/* The runner (blocking; the agent runs it in a child process): wait for
 * cloud-init (at most ci_wait_s), record "running", run the script as this
 * process's user in its own process group with stdin /dev/null and stdout
 * and stderr into startup.log, end the group at the time limit (SIGTERM,
 * then SIGKILL), record the result. SIGTERM or SIGINT stop it: before the
 * script started nothing is recorded; after, the script is ended and the
 * record says it was interrupted. 0 when a record was written, 1 when
 * stopped before the script started, -1 when the state folder is unusable. */
int ag_startup_run(const ag_startup_cfg *c);
/* The "startup" message for r: for a finished run with the end of the
 * output (at most AG_STARTUP_OUTPUT_MAX bytes, fewer when the escaped text
 * would not fit in one line); -1 when nothing fits. */
ssize_t ag_startup_message(char *buf, size_t cap, const ag_startup_record *r, const char *state_dir);

/* ---- messages.c: protocol messages ---------------------------------------- */
/* Each builder writes one JSON object (no newline) into buf and returns its
 * length, or -1 when it does not fit in AG_LINE_MAX bytes / cap-1 bytes. */
ssize_t ag_msg_hello(char *buf, size_t cap, const char *workspace_id, const char *token);
ssize_t ag_msg_ready(char *buf, size_t cap, const ag_cloudinit *ci);
ssize_t ag_msg_heartbeat(char *buf, size_t cap, unsigned long long seq, const ag_sample *s);
/* output: the end of the script's output (len bytes), NULL while running;
 * truncated: bytes before it were left out. */
ssize_t ag_msg_startup(char *buf, size_t cap, const ag_startup_record *r, const char *output, size_t len,
                       bool truncated);

typedef enum ag_host_kind { AG_HOST_INVALID, AG_HOST_UNKNOWN, AG_HOST_WELCOME, AG_HOST_ERROR } ag_host_kind;
typedef struct ag_host_msg {
        ag_host_kind kind;
        long long proto;  /* welcome: the host's protocol version, -1 if absent */
        char type[64];    /* the "type" as sent (for logging unknown ones) */
        char text[1024];  /* error: the "message" */
} ag_host_msg;
/* Read one line from the host; never fails hard: garbage is AG_HOST_INVALID. */
void ag_host_parse(const char *line, size_t len, ag_host_msg *m);

/* ---- port.c: the channel to the host ---------------------------------------- */
typedef struct ag_port {
        int fd;
        bool is_socket;
        size_t in_len;
        bool discarding;  /* inside an overlong line: drop bytes until '\n' */
        char in[AG_LINE_MAX + 1];
} ag_port;

/* Open path: connect(2) when it is a unix socket, else open(2) the device.
 * 0, or -1 with errno. */
int ag_port_open(ag_port *p, const char *path);
void ag_port_close(ag_port *p);
/* Ask for SIGIO when the port's state changes: virtio-serial sends it when
 * the host end connects or goes away. The caller must catch SIGIO. */
void ag_port_notify(ag_port *p);
/* Is the host end connected? (virtio-serial: no POLLHUP). 1, 0, -1 on error. */
int ag_port_host_connected(ag_port *p);
/* Write len bytes and a newline, waiting for room up to timeout_ms in all
 * (in ppoll with waitmask; a signal ends the wait only when *stop is set).
 * 0, or -1 when the host went away or did not read in time. */
int ag_port_send_line(ag_port *p, const char *data, size_t len, int timeout_ms,
                      const sigset_t *waitmask, const volatile sig_atomic_t *stop);
/* Read what is available; call on_line for each complete line (overlong
 * lines are dropped whole and reported with len == SIZE_MAX).
 * 0 while connected, -1 when the host closed/hung up or on error. */
int ag_port_read(ag_port *p, void (*on_line)(const char *line, size_t len, void *ctx), void *ctx);

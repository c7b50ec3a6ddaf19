/* wsctl.h — wsctl's internal interface: the context every command gets, the
 * command table's entry type, the HTTP boundary (http.c is the only file that
 * uses libcurl, so tests/unit/test-wsctl.c can include every other file and
 * answer requests itself) and the output, key and ssh helpers. */
#pragma once

#include "common/common.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#ifndef HOSTD_VERSION
#define HOSTD_VERSION "0.1.0"
#endif

#define WSCTL_DEFAULT_SOCKET "/run/hostd/hostd.sock"

/* Exit codes: part of wsctl's interface, documented in docs/wsctl.md and --help. */
enum {
        WSCTL_EXIT_OK = 0,
        WSCTL_EXIT_ERROR = 1,       /* hostd refused or failed the request */
        WSCTL_EXIT_USAGE = 2,       /* bad command line */
        WSCTL_EXIT_UNREACHABLE = 3, /* no answer from hostd */
        WSCTL_EXIT_STATE = 4,       /* workspace failed, or not in the state the command needs */
        WSCTL_EXIT_TIMEOUT = 5,     /* --wait ran past --timeout */
};

/* Request time limits (milliseconds). */
#define WSCTL_TIMEOUT_MS 60000L       /* one ordinary request */
#define WSCTL_POLL_TIMEOUT_MS 10000L  /* one status poll of --wait */
#define WSCTL_IMPORT_TIMEOUT_MS 0L    /* image import checksums whole files: no limit */

/* What `wsctl login` stored (config.c): where to talk HTTPS to, and as whom. */
typedef struct wsctl_config {
        char *server; /* "https://host:port"; NULL: not logged in (the unix socket) */
        char *ca;     /* absolute path of the CA certificates to verify it with; NULL: the system's */
        char *token;  /* sent as Authorization: Bearer */
        char *path;   /* the file it came from */
} wsctl_config;

typedef struct wsctl_ctx {
        const char *socket_path;
        bool socket_explicit; /* --socket or $HOSTD_SOCKET: the socket even when logged in */
        bool json;
        const char *as_user; /* --as: an admin acting on behalf of this user (X-On-Behalf-Of) */
        FILE *out, *err;
        unsigned poll_ms; /* --wait's poll interval; the first delay before reopening an event stream */
        void *http;       /* http.c's connection handle, NULL until the first request */
        wsctl_config conf;
} wsctl_ctx;

typedef struct wsctl_command wsctl_command;
struct wsctl_command {
        const char *name;
        const char *summary;
        const char *usage;   /* what follows "wsctl <name> " */
        const char *options; /* the option lines of --help, or NULL */
        int (*run)(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
};

/* ---- cli.c: dispatch and option parsing ---------------------------------- */

/* Everything main() does: global options, then the command. Returns the exit code. */
int wsctl_main(wsctl_ctx *ctx, int argc, char **argv);

/* Options every command accepts; end each command's long option table with them. */
#define WSCTL_COMMON_OPTIONS                                 \
        {"help", no_argument, NULL, 'h'},                    \
        {"json", no_argument, NULL, 'J'},                    \
        {"socket", required_argument, NULL, 'S'},            \
        {"as", required_argument, NULL, 'O'},                \
        {NULL, 0, NULL, 0}

#define WSCTL_OPT_STOP (-2)
/* getopt_long for a command. Handles the common options itself. Returns the
 * next command option, -1 when options end (argv[optind] is the first
 * operand), or WSCTL_OPT_STOP with *rc set: 0 after --help, 2 after a usage
 * error (already printed). A shortopts starting with '+' stops at the first
 * operand. cmd NULL: wsctl's global options, before the command. */
int wsctl_getopt(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, const char *shortopts,
                 const struct option *longopts, int *rc);
/* Print "wsctl: <message>" and the command's usage line to ctx->err; returns 2. */
int wsctl_usage_error(wsctl_ctx *ctx, const wsctl_command *cmd, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Check that between min and max (-1: any) operands remain; else a usage error (returns 2). */
/* A command with subcommands: read its options, then return the subcommand
 * ("list" when none) with argc and argv moved onto it for the subcommand's own
 * options. NULL with *rc set after --help or a usage error. */
const char *wsctl_subcommand(wsctl_ctx *ctx, const wsctl_command *cmd, int *argc, char ***argv, int *rc);
int wsctl_operands(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, int min, int max);
void wsctl_command_help(wsctl_ctx *ctx, const wsctl_command *cmd, FILE *f);
/* Print "wsctl: <message>" to ctx->err and return code. */
int wsctl_fail(wsctl_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- http.c (libcurl) and request.c -------------------------------------- */

typedef struct wsctl_reply {
        long status;  /* HTTP status */
        char *body;   /* the body as received, NUL-terminated */
        json_t *json; /* the body parsed, or NULL when it is not JSON */
} wsctl_reply;

#define WSCTL_REPLY_INIT {0, NULL, NULL}
void wsctl_reply_clear(wsctl_reply *r);
#define _cleanup_reply_ __attribute__((cleanup(wsctl_reply_clear)))

/* One request to hostd (http.c). path starts with "/v1/"; body (may be NULL) is
 * JSON text; timeout_ms 0 means no limit. Returns 0 when an HTTP answer came
 * (any status; reply->status and reply->body set), -1 with err filled when
 * none did (socket missing, permission denied, refused, timed out). */
int wsctl_http_send(wsctl_ctx *ctx, const char *method, const char *path, const char *body, long timeout_ms,
                    wsctl_reply *reply, hd_error *err);
void wsctl_http_close(wsctl_ctx *ctx);

/* hostd's event stream sends a heartbeat every 15 s: this long without a
 * byte, a stream is taken for dead. */
#define WSCTL_STREAM_SILENCE_S 45
/* Gets each piece of an event stream's body as it comes; nonzero stops it. */
typedef int (*wsctl_stream_fn)(void *opaque, const char *data, size_t len);
/* GET path as an event stream (http.c), sending Last-Event-ID when
 * last_event_id is not NULL, feeding a 200 answer's body to fn as it comes.
 * Returns 1 when fn stopped it, 0 when the answer ended (reply->status set;
 * the body of an answer other than 200 is in reply->body, fn never saw it),
 * -1 with err when none came, the connection dropped, it went silent for
 * WSCTL_STREAM_SILENCE_S, timeout_ms (0: none) passed, or wsctl_interrupted
 * was set. */
int wsctl_http_stream(wsctl_ctx *ctx, const char *path, const char *last_event_id, long timeout_ms,
                      wsctl_stream_fn fn, void *opaque, wsctl_reply *reply, hd_error *err);
/* Set by watch's SIGINT and SIGTERM handler: long transfers end. */
extern volatile sig_atomic_t wsctl_interrupted;
/* Sleep ms milliseconds, less when wsctl_interrupted is set (wait.c). */
void wsctl_sleep_ms(unsigned ms);

/* ---- sse.c: reading text/event-stream -------------------------------------- */

typedef struct wsctl_sse {
        hd_buf line;       /* a line not complete yet */
        hd_buf data;       /* the message's data lines */
        bool has_data;
        bool after_cr;     /* the last byte was CR: a LF next belongs to it */
        char event[64];
        char id[32];       /* this message's id */
        char last_id[32];  /* the id of the last message dispatched: what a reconnect sends */
} wsctl_sse;

#define WSCTL_SSE_INIT {HD_BUF_INIT, HD_BUF_INIT, false, false, "", "", ""}
/* One message: its event name ("message" when none), id ("" when none) and data. */
typedef int (*wsctl_sse_fn)(void *opaque, const char *event, const char *id, const char *data);
/* Parse len bytes (lines may be split anywhere); fn for each message with
 * data. Returns fn's first nonzero answer (the rest is not parsed), else 0. */
int wsctl_sse_feed(wsctl_sse *p, const char *buf, size_t len, wsctl_sse_fn fn, void *opaque);
/* Forget a partial message (a new connection), keeping last_id. */
void wsctl_sse_restart(wsctl_sse *p);
void wsctl_sse_clear(wsctl_sse *p);

/* What to tell the user when connect(2) on the socket failed with errnum. */
char *wsctl_unreachable_message(const char *socket_path, int errnum);

/* Send and parse the JSON body: -1 with err when no answer came, else 0. */
int wsctl_request(wsctl_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms,
                  wsctl_reply *reply, hd_error *err);
/* Send; on no answer or an error status print the reason and return the exit
 * code; 0 for a 2xx answer. state_change: a 409 means "not in the right state" (exit 4). */
int wsctl_call(wsctl_ctx *ctx, const char *method, const char *path, json_t *body, long timeout_ms,
               bool state_change, wsctl_reply *reply);
/* The message of an error body {"error":{"message":…}}, else "HTTP <status>" and a bit of the body. */
char *wsctl_error_message(const wsctl_reply *r);
int wsctl_exit_for_status(long status, bool state_change);
/* "/v1/workspaces/<escaped name><suffix>" (suffix may be ""). */
char *wsctl_path(const char *collection, const char *name, const char *suffix);
/* RFC 3986 percent-escaping of one path segment. */
char *wsctl_escape(const char *s);

/* Whether requests go to a server over HTTPS (logged in, no socket asked for). */
bool wsctl_remote(const wsctl_ctx *ctx);

/* ---- config.c: wsctl.conf, written by wsctl login ------------------------- */

/* $XDG_CONFIG_HOME/hostd/wsctl.conf, else HOME/.config/hostd/wsctl.conf (caller frees). */
char *wsctl_config_path(const char *home);
/* 1 loaded, 0 when there is no file, -1 with err when it is refused: not the
 * user's own, readable or writable by others, or malformed. */
int wsctl_config_load(wsctl_config *c, hd_error *err);
/* Parse the text of a config file (changed in place) into c. */
int wsctl_config_parse(const char *path, char *text, wsctl_config *c, hd_error *err);
/* Write c (server, ca, token) atomically, mode 0600, its directory 0700. */
int wsctl_config_save(const wsctl_config *c, hd_error *err);
/* 1 removed, 0 there was none. */
int wsctl_config_remove(hd_error *err);
void wsctl_config_clear(wsctl_config *c);
/* A token is 1 to 8192 printable characters without spaces. */
bool wsctl_token_text_valid(const char *t);
/* An https:// URL with a host. */
int wsctl_server_check(const char *url, hd_error *err);

/* ---- format.c: human output ---------------------------------------------- */

typedef struct wsctl_table {
        size_t ncols, nrows, cap;
        char **cells; /* nrows * ncols, row-major; row 0 is the header when there is one */
} wsctl_table;

#define WSCTL_TABLE_INIT(n) {(n), 0, 0, NULL}
void wsctl_table_add(wsctl_table *t, const char *const *row);
/* Columns left-aligned, two spaces apart, no trailing blanks. */
char *wsctl_table_render(const wsctl_table *t);
void wsctl_table_free(wsctl_table *t);
#define _cleanup_table_ __attribute__((cleanup(wsctl_table_free)))

/* 2147483648 -> "2G", 1610612736 -> "1.5G", 123456789 -> "117.7M", 900 -> "900B". */
void wsctl_format_bytes(uint64_t bytes, char *buf, size_t len);
/* seconds -> "45s", "5m", "2h", "3d" (whole units, rounded down). */
void wsctl_format_age(long long seconds, char *buf, size_t len);
/* "2024-05-01T10:00:00Z" -> seconds since the epoch; -1 when malformed. */
long long wsctl_parse_time(const char *s);
/* The age of a JSON timestamp at now, or "-" when absent. */
void wsctl_age_of(json_t *timestamp, time_t now, char *buf, size_t len);
/* GET a collection {"<key>":[…]} and print it: hostd's JSON with --json,
 * else a table of header and one row per item (add_row adds it), or empty
 * when there is no item. Returns the exit code. */
int wsctl_print_collection(wsctl_ctx *ctx, const char *path, const char *key, const char *const *header,
                           size_t ncols, const char *empty, void (*add_row)(wsctl_table *t, json_t *item, time_t now));
/* The table of wsctl_print_collection for a JSON array already fetched. */
void wsctl_print_rows(wsctl_ctx *ctx, json_t *list, const char *const *header, size_t ncols, const char *empty,
                      void (*add_row)(wsctl_table *t, json_t *item, time_t now));
/* Aligned "key: value" lines; a NULL value leaves its line out. */
void wsctl_print_fields(wsctl_ctx *ctx, const char *const (*fields)[2], size_t n);
/* The server's JSON, pretty and with sorted keys, and a newline. */
void wsctl_print_json(wsctl_ctx *ctx, json_t *j);
/* Quote one word for a POSIX shell when it needs quoting. */
char *wsctl_shell_quote(const char *s);
/* The strings of a JSON array joined by ", "; NULL when there is none. */
char *wsctl_join(json_t *list);
/* A string member of a JSON object, or fallback. */
const char *wsctl_str(json_t *o, const char *key, const char *fallback);

/* ---- idle.c: idle auto-stop and lifetimes ---------------------------------- */

int wsctl_cmd_extend(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
/* show's "idle:" and "lifetime:" lines; NULL when the workspace has none. */
char *wsctl_idle_text(json_t *ws);
char *wsctl_lifetime_text(json_t *ws);
/* create's --idle-timeout (also "off") and --lifetime: value into the body's
 * idle_timeout / lifetime in seconds; 0, or a usage error (returns 2). */
int wsctl_policy_option(wsctl_ctx *ctx, const wsctl_command *cmd, const char *opt, const char *value, json_t *body);

/* ---- startup.c: a template's startup script -------------------------------- */

int wsctl_cmd_startup_log(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
/* show's "startup:" line; NULL when the workspace has no startup script. */
const char *wsctl_startup_text(json_t *ws);

/* ---- keys.c: SSH public keys --------------------------------------------- */

/* Append every key line of a public key file (blank and '#' lines skipped) to
 * keys; a private key or a line that is no public key is refused. */
int wsctl_read_key_file(const char *path, json_t *keys, hd_error *err);
/* The first of ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub that exists
 * (caller frees), or NULL with err naming them. */
char *wsctl_default_key_file(const char *home, hd_error *err);
/* $HOME, else the password database's home directory. */
const char *wsctl_home(void);

/* ---- ssh.c: ssh command lines and ssh_config blocks ---------------------- */

typedef struct wsctl_ssh_target {
        const char *name;
        const char *host;
        const char *user;
        long port;
} wsctl_ssh_target;

/* Read the ssh object of a workspace; -1 with err when it has none or when a
 * value could not be passed safely to ssh. */
int wsctl_ssh_target_of(json_t *ws, wsctl_ssh_target *t, hd_error *err);
/* ~/.config/hostd/known_hosts (or under $XDG_CONFIG_HOME); caller frees. */
char *wsctl_known_hosts_path(const char *home);
/* NULL-terminated argv: the wrapper's words (split on spaces, may be NULL),
 * ssh, its options, user@host, then the extra arguments. Free with wsctl_argv_free. */
char **wsctl_ssh_argv(const wsctl_ssh_target *t, const char *known_hosts, const char *wrapper,
                      char *const *extra, int nextra);
void wsctl_argv_free(char **argv);
/* One "Host <name>.hostd" block for ~/.ssh/config. */
void wsctl_ssh_config_block(hd_buf *b, const wsctl_ssh_target *t, const char *known_hosts,
                            const char *wrapper);

/* ---- wait.c: follow a workspace's state ---------------------------------- */

typedef enum wsctl_goal {
        WSCTL_UNTIL_READY,   /* create, start, restart */
        WSCTL_UNTIL_STOPPED, /* stop */
        WSCTL_UNTIL_GONE,    /* delete: 404 or deleted */
} wsctl_goal;

/* Follow the workspace (name; id, when known, names it in the event
 * stream) and print each state change with the seconds since started (a
 * monotonic time in seconds); stop at the goal (0), at failed (4, reason
 * printed), or after timeout_s (5). It follows hostd's event stream, and
 * polls every ctx->poll_ms where the stream is not to be had. *last (may be
 * NULL) gets the last workspace seen. */
int wsctl_wait(wsctl_ctx *ctx, const char *name, const char *id, wsctl_goal goal, const char *first_state,
               double started, uint64_t timeout_s, json_t **last);
double wsctl_now(void);

/* ---- the commands (workspaces.c, images.c, gpus.c, ssh.c) ---------------- */

/* start, stop, restart and delete share one handler. */

int wsctl_cmd_create(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_list(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_show(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_action(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_ssh(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_ssh_config(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_images(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_template(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_gpus(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
/* watch.c */
int wsctl_cmd_watch(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);

/* ---- identity (login.c, tokens.c, users.c; docs/identity.md) ------------- */

int wsctl_cmd_login(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_logout(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_token(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_user(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
/* "a,b,c" as a JSON array of strings ("" is the empty array). */
json_t *wsctl_split_list(const char *s);
/* audit.c */
int wsctl_cmd_audit(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);
int wsctl_cmd_quota(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv);

/* workspaces.c — the workspace commands: create, list, show, start, stop,
 * restart and delete, with --wait following the state changes. */
#include "tools/wsctl/wsctl.h"

#include <errno.h>
#include <string.h>

#define DEFAULT_WAIT_TIMEOUT_S (20 * 60)
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

/* getopt values of the workspace commands' long options. */
enum {
        OPT_WAIT = 'w',
        OPT_TIMEOUT = 't',
        OPT_FORCE = 'f',
        OPT_IMAGE = 'i',
        OPT_TEMPLATE = 'T',
        OPT_KEY = 'k',
        OPT_VCPUS = 'c',
        OPT_MEMORY = 'm',
        OPT_DISK = 'd',
        OPT_USER = 'u',
        OPT_GPUS = 'g',
        OPT_GPU_MODEL = 'M',
        OPT_GPU_NUMA = 'N',
        OPT_IDLE_TIMEOUT = 'I',
        OPT_LIFETIME = 'L',
};

#define MAX_GPUS 16

#define WAIT_OPTIONS                                            \
        {"wait", no_argument, NULL, OPT_WAIT},                  \
        {"timeout", required_argument, NULL, OPT_TIMEOUT}

typedef struct wait_opts {
        bool wait;
        uint64_t timeout_s;
        double started; /* when the command started, for the progress lines */
} wait_opts;

#define WAIT_OPTS_INIT {false, DEFAULT_WAIT_TIMEOUT_S, wsctl_now()}

/* Take --wait and --timeout: 1 when c was one of them, 0 when not, -1 with
 * *rc set after a bad --timeout. */
static int wait_option(wsctl_ctx *ctx, const wsctl_command *cmd, int c, wait_opts *w, int *rc)
{
        if (c == OPT_WAIT) {
                w->wait = true;
                return 1;
        }
        if (c != OPT_TIMEOUT)
                return 0;
        if (hd_parse_duration(optarg, &w->timeout_s) < 0) {
                *rc = wsctl_usage_error(ctx, cmd, "%s: --timeout %s is not a duration (e.g. 90s, 20m, 1h)",
                                        cmd->name, optarg);
                return -1;
        }
        return 1;
}

/* --gpus, --gpu-model, --gpu-numa into the body; 0 or a usage error. */
static int gpu_option(wsctl_ctx *ctx, const wsctl_command *cmd, int c, json_t *body)
{
        long long v;
        char *end;

        switch (c) {
        case OPT_GPUS:
                errno = 0;
                v = strtoll(optarg, &end, 10);
                if (errno || *end || end == optarg || v < 0 || v > MAX_GPUS)
                        return wsctl_usage_error(ctx, cmd, "create: --gpus %s: give a number of GPUs from 0 to %d",
                                                 optarg, MAX_GPUS);
                json_object_set_new(body, "gpus", json_integer(v));
                return 0;
        case OPT_GPU_MODEL:
                if (!*optarg || json_object_set_new(body, "gpu_model", json_string(optarg)) < 0)
                        return wsctl_usage_error(ctx, cmd, "create: --gpu-model wants a model name (H100) or a "
                                                           "vendor:device id (10de:2330)");
                return 0;
        default: /* OPT_GPU_NUMA */
                if (strcmp(optarg, "required") != 0 && strcmp(optarg, "preferred") != 0)
                        return wsctl_usage_error(ctx, cmd, "create: --gpu-numa %s: give required or preferred",
                                                 optarg);
                json_object_set_new(body, "gpu_numa", json_string(optarg));
                return 0;
        }
}

/* "4G" -> MiB; sizes must be whole MiB (memory) or GiB (disk). */
static int parse_size_in(wsctl_ctx *ctx, const wsctl_command *cmd, const char *opt, const char *s,
                         uint64_t unit, const char *example, long long *out)
{
        uint64_t bytes;

        if (hd_parse_size(s, &bytes) < 0 || bytes == 0 || bytes % unit != 0 || bytes / unit > INT32_MAX)
                return wsctl_usage_error(ctx, cmd, "%s: %s %s: give a whole number of %s with its unit, e.g. %s",
                                         cmd->name, opt, s, unit == GIB ? "GiB" : "MiB", example);
        *out = (long long)(bytes / unit);
        return 0;
}

static void print_ssh_hint(wsctl_ctx *ctx, json_t *ws)
{
        const char *name = wsctl_str(ws, "name", "NAME");
        const char *direct = wsctl_str(ws, "ssh_command", NULL);

        fprintf(ctx->out, "connect: wsctl ssh %s", name);
        if (direct)
                fprintf(ctx->out, "   (or: %s)", direct);
        fputc('\n', ctx->out);
}

/* After a 2xx answer to an action: the answer, or follow it with --wait. */
static int follow(wsctl_ctx *ctx, const char *name, json_t *answer, const wait_opts *w, wsctl_goal goal)
{
        _cleanup_(json_decrefp) json_t *last = NULL;
        const char *state = wsctl_str(answer, "state", NULL);
        int rc;

        if (!w->wait) {
                if (ctx->json)
                        wsctl_print_json(ctx, answer);
                else
                        fprintf(ctx->out, "%s: %s\n", name, state ? state : "accepted");
                return WSCTL_EXIT_OK;
        }
        rc = wsctl_wait(ctx, name, wsctl_str(answer, "id", NULL), goal, state, w->started, w->timeout_s, &last);
        if (rc != WSCTL_EXIT_OK)
                return rc;
        if (ctx->json)
                wsctl_print_json(ctx, last ? last : answer);
        else if (goal == WSCTL_UNTIL_READY)
                print_ssh_hint(ctx, last);
        return WSCTL_EXIT_OK;
}

static int add_keys(wsctl_ctx *ctx, json_t *keys, json_t *files)
{
        _cleanup_free_ char *fallback = NULL;
        hd_error err = {0};
        json_t *f;
        size_t i;

        if (json_array_size(files) == 0) {
                fallback = wsctl_default_key_file(wsctl_home(), &err);
                if (!fallback)
                        return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
                json_array_append_new(files, json_string(fallback));
        }
        json_array_foreach(files, i, f)
                if (wsctl_read_key_file(json_string_value(f), keys, &err) < 0)
                        return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        return 0;
}

int wsctl_cmd_create(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"image", required_argument, NULL, OPT_IMAGE},
                {"template", required_argument, NULL, OPT_TEMPLATE},
                {"ssh-key", required_argument, NULL, OPT_KEY},
                {"vcpus", required_argument, NULL, OPT_VCPUS},
                {"memory", required_argument, NULL, OPT_MEMORY},
                {"disk", required_argument, NULL, OPT_DISK},
                {"user", required_argument, NULL, OPT_USER},
                {"gpus", required_argument, NULL, OPT_GPUS},
                {"gpu-model", required_argument, NULL, OPT_GPU_MODEL},
                {"gpu-numa", required_argument, NULL, OPT_GPU_NUMA},
                {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
                {"lifetime", required_argument, NULL, OPT_LIFETIME},
                WAIT_OPTIONS,
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_(json_decrefp) json_t *body = json_object();
        _cleanup_(json_decrefp) json_t *files = json_array();
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        const char *image = NULL, *template = NULL;
        wait_opts w = WAIT_OPTS_INIT;
        json_t *keys = json_array();
        long long v;
        char *end;
        int c, k, rc = 0;

        json_object_set_new(body, "ssh_keys", keys);
        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP || (k = wait_option(ctx, cmd, c, &w, &rc)) < 0)
                        return rc;
                if (k)
                        continue;
                switch (c) {
                case OPT_IMAGE:
                        image = optarg;
                        break;
                case OPT_TEMPLATE:
                        template = optarg;
                        break;
                case OPT_KEY:
                        json_array_append_new(files, json_string(optarg));
                        break;
                case OPT_VCPUS:
                        errno = 0;
                        v = strtoll(optarg, &end, 10);
                        if (errno || *end || end == optarg || v < 1 || v > 4096)
                                return wsctl_usage_error(ctx, cmd, "create: --vcpus %s is not a number of CPUs",
                                                         optarg);
                        json_object_set_new(body, "vcpus", json_integer(v));
                        break;
                case OPT_MEMORY:
                        if ((rc = parse_size_in(ctx, cmd, "--memory", optarg, MIB, "4G or 512M", &v)) != 0)
                                return rc;
                        json_object_set_new(body, "memory_mib", json_integer(v));
                        break;
                case OPT_DISK:
                        if ((rc = parse_size_in(ctx, cmd, "--disk", optarg, GIB, "40G", &v)) != 0)
                                return rc;
                        json_object_set_new(body, "disk_gib", json_integer(v));
                        break;
                case OPT_USER:
                        if (json_object_set_new(body, "user", json_string(optarg)) < 0)
                                return wsctl_usage_error(ctx, cmd, "create: --user must be UTF-8 text");
                        break;
                case OPT_GPUS:
                case OPT_GPU_MODEL:
                case OPT_GPU_NUMA:
                        if ((rc = gpu_option(ctx, cmd, c, body)) != 0)
                                return rc;
                        break;
                case OPT_IDLE_TIMEOUT:
                case OPT_LIFETIME:
                        if ((rc = wsctl_policy_option(ctx, cmd, c == OPT_LIFETIME ? "--lifetime" : "--idle-timeout",
                                                      optarg, body)) != 0)
                                return rc;
                        break;
                }
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        if ((json_object_get(body, "gpu_model") || json_object_get(body, "gpu_numa")) &&
            json_integer_value(json_object_get(body, "gpus")) < 1)
                return wsctl_usage_error(ctx, cmd, "create: --gpu-model and --gpu-numa need --gpus N (1 or more)");
        /* A template names its image: $WSCTL_IMAGE only counts without one. */
        if (!image && !template)
                image = getenv("WSCTL_IMAGE");
        if ((!image || !*image) && !template)
                return wsctl_usage_error(ctx, cmd,
                                         "create: --image or --template is required (or set WSCTL_IMAGE)");
        if (json_object_set_new(body, "name", json_string(argv[optind])) < 0 ||
            (image && json_object_set_new(body, "image", json_string(image)) < 0) ||
            (template && json_object_set_new(body, "template", json_string(template)) < 0))
                return wsctl_usage_error(ctx, cmd, "create: names must be UTF-8 text");
        if ((rc = add_keys(ctx, keys, files)) != 0)
                return rc;
        if ((rc = wsctl_call(ctx, "POST", "/v1/workspaces", body, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        return follow(ctx, argv[optind], r.json, &w, WSCTL_UNTIL_READY);
}

static void vcpus_text(json_t *ws, char *buf, size_t len)
{
        json_t *v = json_object_get(ws, "vcpus");

        if (json_is_integer(v))
                snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        else
                snprintf(buf, len, "-");
}

static char *size_text(json_t *ws, const char *key, uint64_t unit)
{
        json_t *v = json_object_get(ws, key);
        char buf[32];

        if (!json_is_integer(v))
                return hd_strdup("-");
        wsctl_format_bytes((uint64_t)json_integer_value(v) * unit, buf, sizeof(buf));
        return hd_strdup(buf);
}

/* The GPUs requested (0 when none) and the number held now. */
static long long gpus_requested(json_t *ws, size_t *held)
{
        json_t *gpus = json_object_get(ws, "gpus");
        json_t *count = json_object_get(gpus, "count");

        *held = json_array_size(json_object_get(gpus, "held"));
        return json_is_integer(count) && json_integer_value(count) > 0 ? json_integer_value(count) : 0;
}

/* list's GPUS column: "2" when all are held, "0/2" while fewer are, "-" when none requested. */
static void gpus_column(json_t *ws, char *buf, size_t len)
{
        size_t held;
        long long n = gpus_requested(ws, &held);

        if (n == 0)
                snprintf(buf, len, "-");
        else if ((long long)held == n)
                snprintf(buf, len, "%lld", n);
        else
                snprintf(buf, len, "%zu/%lld", held, n);
}

static void add_workspace_row(wsctl_table *t, json_t *ws, time_t now)
{
        _cleanup_free_ char *mem = size_text(ws, "memory_mib", MIB);
        _cleanup_free_ char *disk = size_text(ws, "disk_gib", GIB);
        json_t *addr = json_array_get(json_object_get(ws, "addresses"), 0);
        char vcpus[24], gpus[48], age[16];

        vcpus_text(ws, vcpus, sizeof(vcpus));
        gpus_column(ws, gpus, sizeof(gpus));
        wsctl_age_of(json_object_get(ws, "created_at"), now, age, sizeof(age));
        wsctl_table_add(t, (const char *const[]){wsctl_str(ws, "name", "?"), wsctl_str(ws, "state", "?"),
                                                 wsctl_str(ws, "image", "-"), vcpus, mem, disk, gpus,
                                                 json_is_string(addr) ? json_string_value(addr) : "-", age});
}

int wsctl_cmd_list(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        static const char *const header[] = {"NAME",   "STATE", "IMAGE",   "VCPUS", "MEMORY",
                                             "DISK",   "GPUS",  "ADDRESS", "AGE"};
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                return rc;
        return wsctl_print_collection(ctx, "/v1/workspaces", "workspaces", header, HD_ARRAY_SIZE(header),
                                      "no workspaces (wsctl create --help tells how to make one)", add_workspace_row);
}

/* "2024-05-01T10:00:00Z (5m ago)" */
static char *time_text(json_t *ws, const char *key, time_t now)
{
        json_t *v = json_object_get(ws, key);
        char age[16];

        if (!json_is_string(v))
                return NULL;
        wsctl_age_of(v, now, age, sizeof(age));
        return hd_asprintf("%s (%s ago)", json_string_value(v), age);
}

static char *agent_text(json_t *agent, time_t now)
{
        hd_buf b = HD_BUF_INIT;
        json_t *v;
        char age[16];

        if (!json_is_object(agent))
                return NULL;
        hd_buf_appendf(&b, "version %s", wsctl_str(agent, "version", "?"));
        if ((v = json_object_get(agent, "cloud_init")) && json_is_string(v))
                hd_buf_appendf(&b, ", cloud-init %s", json_string_value(v));
        if ((v = json_object_get(agent, "ssh_sessions")) && json_is_integer(v))
                hd_buf_appendf(&b, ", SSH sessions %lld", (long long)json_integer_value(v));
        if ((v = json_object_get(agent, "users")) && json_is_integer(v))
                hd_buf_appendf(&b, ", users %lld", (long long)json_integer_value(v));
        if ((v = json_object_get(agent, "load1")) && json_is_number(v))
                hd_buf_appendf(&b, ", load %.2f", json_number_value(v));
        if ((v = json_object_get(agent, "last_heartbeat_at")) && json_is_string(v)) {
                wsctl_age_of(v, now, age, sizeof(age));
                hd_buf_appendf(&b, ", heartbeat %s ago", age);
        }
        return hd_buf_steal(&b);
}

/* show's gpus line: "2 x H100 (numa required): 0000:3b:00.0, 0000:5d:00.0",
 * "2 x any: none held (stopped)"; NULL when no GPU is requested. */
static char *gpus_text(json_t *ws)
{
        json_t *gpus = json_object_get(ws, "gpus");
        _cleanup_free_ char *held = wsctl_join(json_object_get(gpus, "held"));
        const char *numa = wsctl_str(gpus, "numa", NULL);
        hd_buf b = HD_BUF_INIT;
        size_t nheld;
        long long n = gpus_requested(ws, &nheld);

        if (n == 0)
                return NULL;
        hd_buf_appendf(&b, "%lld x %s", n, wsctl_str(gpus, "model", "any"));
        if (numa)
                hd_buf_appendf(&b, " (numa %s)", numa);
        if (held)
                hd_buf_appendf(&b, ": %s", held);
        else
                hd_buf_appendf(&b, ": none held (%s)", wsctl_str(ws, "state", "?"));
        return hd_buf_steal(&b);
}

int wsctl_cmd_show(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL, *mem = NULL, *disk = NULL, *created = NULL, *changed = NULL,
                            *agent = NULL, *addrs = NULL, *gpus = NULL, *template = NULL,
                            *idle = NULL, *life = NULL;
        time_t now = time(NULL);
        char vcpus[24];
        json_t *ws;
        int rc = 0;

        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        path = wsctl_path("workspaces", argv[optind], "");
        if ((rc = wsctl_call(ctx, "GET", path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        ws = r.json;
        if (ctx->json) {
                wsctl_print_json(ctx, ws);
                return WSCTL_EXIT_OK;
        }
        mem = size_text(ws, "memory_mib", MIB);
        disk = size_text(ws, "disk_gib", GIB);
        created = time_text(ws, "created_at", now);
        changed = time_text(ws, "state_changed_at", now);
        agent = agent_text(json_object_get(ws, "agent"), now);
        addrs = wsctl_join(json_object_get(ws, "addresses"));
        gpus = gpus_text(ws);
        if (json_is_string(json_object_get(ws, "template")))
                template = hd_asprintf("%s (version %.12s)", wsctl_str(ws, "template", ""),
                                       wsctl_str(ws, "template_version", "?"));
        vcpus_text(ws, vcpus, sizeof(vcpus));
        idle = wsctl_idle_text(ws);
        life = wsctl_lifetime_text(ws);
        const char *const fields[][2] = {
                {"name:", wsctl_str(ws, "name", NULL)},
                {"id:", wsctl_str(ws, "id", NULL)},
                {"owner:", wsctl_str(ws, "owner", NULL)},
                {"state:", wsctl_str(ws, "state", NULL)},
                {"reason:", wsctl_str(ws, "reason", NULL)},
                {"since:", changed},
                {"image:", wsctl_str(ws, "image", NULL)},
                {"template:", template},
                {"vcpus:", vcpus},
                {"memory:", mem},
                {"disk:", disk},
                {"gpus:", gpus},
                {"addresses:", addrs},
                {"ssh:", wsctl_str(ws, "ssh_command", NULL)},
                {"agent:", agent},
                {"idle:", idle},
                {"lifetime:", life},
                {"startup:", wsctl_startup_text(ws)},
                {"created:", created},
        };
        wsctl_print_fields(ctx, fields, HD_ARRAY_SIZE(fields));
        return WSCTL_EXIT_OK;
}

/* start, stop, restart: POST /v1/workspaces/NAME/<command>; delete: DELETE /v1/workspaces/NAME. */
int wsctl_cmd_action(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WAIT_OPTIONS, WSCTL_COMMON_OPTIONS};
        static const struct option stop_opts[] = {
                {"force", no_argument, NULL, OPT_FORCE},
                WAIT_OPTIONS,
                WSCTL_COMMON_OPTIONS,
        };
        bool is_stop = strcmp(cmd->name, "stop") == 0, is_delete = strcmp(cmd->name, "delete") == 0;
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL, *suffix = NULL;
        wait_opts w = WAIT_OPTS_INIT;
        bool force = false;
        int c, k, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", is_stop ? stop_opts : opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP || (k = wait_option(ctx, cmd, c, &w, &rc)) < 0)
                        return rc;
                if (!k && c == OPT_FORCE)
                        force = true;
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        suffix = is_delete ? hd_strdup("") : hd_asprintf("/%s%s", cmd->name, force ? "?force=true" : "");
        path = wsctl_path("workspaces", argv[optind], suffix);
        if ((rc = wsctl_call(ctx, is_delete ? "DELETE" : "POST", path, NULL, WSCTL_TIMEOUT_MS, true, &r)) != 0)
                return rc;
        return follow(ctx, argv[optind], r.json, &w,
                      is_delete ? WSCTL_UNTIL_GONE : is_stop ? WSCTL_UNTIL_STOPPED : WSCTL_UNTIL_READY);
}

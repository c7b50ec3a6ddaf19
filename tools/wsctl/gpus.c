/* gpus.c — `wsctl gpus`: the host's GPUs with their state and holder or why
 * they are not usable, one GPU in detail, a new inventory, and clearing a
 * quarantined GPU. */
#include "tools/wsctl/wsctl.h"

#include <ctype.h>
#include <string.h>

#define PCI_ADDR_MAX 16 /* "0000:3b:00.0" */

/* A JSON integer as text, "-" when absent or negative (-1: unknown / IOMMU off). */
static void int_text(json_t *o, const char *key, char *buf, size_t len)
{
        json_t *v = json_object_get(o, key);

        if (json_is_integer(v) && json_integer_value(v) >= 0)
                snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        else
                snprintf(buf, len, "-");
}

/* The last column: the holder of an assigned GPU, why a GPU cannot be used. */
static const char *holder_or_reason(json_t *gpu)
{
        const char *state = wsctl_str(gpu, "state", "");

        if (strcmp(state, "assigned") == 0)
                return wsctl_str(gpu, "workspace", "?");
        return wsctl_str(gpu, "reason", "-");
}

static void add_gpu_row(wsctl_table *t, json_t *gpu, time_t now)
{
        char numa[24], group[24];

        (void)now;
        int_text(gpu, "numa_node", numa, sizeof(numa));
        int_text(gpu, "iommu_group", group, sizeof(group));
        wsctl_table_add(t, (const char *const[]){wsctl_str(gpu, "address", "?"), wsctl_str(gpu, "model", "-"),
                                                 wsctl_str(gpu, "id", "-"), numa, group, wsctl_str(gpu, "state", "?"),
                                                 holder_or_reason(gpu)});
}

static void print_host_problem(wsctl_ctx *ctx, json_t *list)
{
        const char *problem = wsctl_str(list, "host_problem", NULL);

        if (problem && *problem)
                fprintf(ctx->out, "host: %s\n", problem);
}

/* A GpuList answer: its JSON, or the table and the host's problem. */
static void print_gpu_list(wsctl_ctx *ctx, json_t *list)
{
        static const char *const header[] = {"ADDRESS", "MODEL", "ID",   "NUMA",
                                             "GROUP",   "STATE", "WORKSPACE/REASON"};

        if (ctx->json) {
                wsctl_print_json(ctx, list);
                return;
        }
        wsctl_print_rows(ctx, json_object_get(list, "gpus"), header, HD_ARRAY_SIZE(header), "no GPUs on this host",
                         add_gpu_row);
        print_host_problem(ctx, list);
}

static int gpus_call(wsctl_ctx *ctx, const char *method, const char *path)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        int rc;

        if ((rc = wsctl_call(ctx, method, path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        print_gpu_list(ctx, r.json);
        return WSCTL_EXIT_OK;
}

/* "0000:3b:00.0", or "3b:00.0" with domain 0000 added; lower case. Returns
 * false when s is no PCI address. */
static bool normalize_address(const char *s, char out[PCI_ADDR_MAX])
{
        static const char shape[] = "hhhh:hh:hh.o";
        size_t n = strlen(s);

        if (n == sizeof(shape) - 1 - 5)
                snprintf(out, PCI_ADDR_MAX, "0000:%s", s);
        else if (n == sizeof(shape) - 1)
                snprintf(out, PCI_ADDR_MAX, "%s", s);
        else
                return false;
        for (size_t i = 0; shape[i]; i++) {
                unsigned char c = (unsigned char)out[i];
                if ((shape[i] == 'h' && !isxdigit(c)) || (shape[i] == 'o' && (c < '0' || c > '7')) ||
                    (shape[i] != 'h' && shape[i] != 'o' && c != (unsigned char)shape[i]))
                        return false;
                out[i] = (char)tolower(c);
        }
        return true;
}

static void print_gpu(wsctl_ctx *ctx, json_t *gpu)
{
        _cleanup_free_ char *functions = wsctl_join(json_object_get(gpu, "functions"));
        char numa[24], group[24];

        int_text(gpu, "numa_node", numa, sizeof(numa));
        int_text(gpu, "iommu_group", group, sizeof(group));
        const char *const fields[][2] = {
                {"address:", wsctl_str(gpu, "address", NULL)},
                {"model:", wsctl_str(gpu, "model", NULL)},
                {"id:", wsctl_str(gpu, "id", NULL)},
                {"state:", wsctl_str(gpu, "state", NULL)},
                {"workspace:", wsctl_str(gpu, "workspace", NULL)},
                {"reason:", wsctl_str(gpu, "reason", NULL)},
                {"numa node:", numa},
                {"iommu group:", group},
                {"functions:", functions},
                {"driver:", wsctl_str(gpu, "driver", "none (unbound)")},
                {"reset method:", wsctl_str(gpu, "reset_method", "unknown")},
        };
        wsctl_print_fields(ctx, fields, HD_ARRAY_SIZE(fields));
}

/* There is no route for one GPU: show picks it out of the inventory. */
static int gpus_show(wsctl_ctx *ctx, const char *address)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        json_t *gpu;
        size_t i;
        int rc;

        if ((rc = wsctl_call(ctx, "GET", "/v1/gpus", NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        json_array_foreach(json_object_get(r.json, "gpus"), i, gpu) {
                if (strcmp(wsctl_str(gpu, "address", ""), address) != 0)
                        continue;
                if (ctx->json) {
                        wsctl_print_json(ctx, gpu);
                } else {
                        print_gpu(ctx, gpu);
                        print_host_problem(ctx, r.json);
                }
                return WSCTL_EXIT_OK;
        }
        return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "no GPU %s on this host (wsctl gpus lists them)", address);
}

int wsctl_cmd_gpus(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        char address[PCI_ADDR_MAX];
        _cleanup_free_ char *path = NULL;
        const char *sub;
        bool one;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        one = strcmp(sub, "show") == 0 || strcmp(sub, "clear") == 0;
        if (!one && strcmp(sub, "list") != 0 && strcmp(sub, "refresh") != 0)
                return wsctl_usage_error(ctx, cmd, "gpus: unknown subcommand '%s'", sub);
        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if (one && optind >= argc)
                return wsctl_usage_error(ctx, cmd, "gpus %s: missing ADDRESS", sub);
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, one ? 1 : 0)) != 0)
                return rc;
        if (strcmp(sub, "list") == 0)
                return gpus_call(ctx, "GET", "/v1/gpus");
        if (strcmp(sub, "refresh") == 0)
                return gpus_call(ctx, "POST", "/v1/gpus/refresh");
        if (!normalize_address(argv[optind], address))
                return wsctl_usage_error(ctx, cmd, "gpus %s: '%s' is not a PCI address (e.g. 0000:3b:00.0)", sub,
                                         argv[optind]);
        if (strcmp(sub, "show") == 0)
                return gpus_show(ctx, address);
        /* A checked address has only hex digits, ':' and '.': nothing to escape. */
        path = hd_asprintf("/v1/gpus/%s/clear", address);
        return gpus_call(ctx, "POST", path);
}

/* images.c — `wsctl images`: list, show, import and delete golden images. */
#include "tools/wsctl/wsctl.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static char *bytes_text(json_t *img, const char *key)
{
        json_t *v = json_object_get(img, key);
        char buf[32];

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return hd_strdup("-");
        wsctl_format_bytes((uint64_t)json_integer_value(v), buf, sizeof(buf));
        return hd_strdup(buf);
}

static void add_image_row(wsctl_table *t, json_t *img, time_t now)
{
        _cleanup_free_ char *size = bytes_text(img, "virtual_size");
        _cleanup_free_ char *file = bytes_text(img, "file_size");
        char sha[13], age[16];

        snprintf(sha, sizeof(sha), "%s", wsctl_str(img, "sha256", "-"));
        wsctl_age_of(json_object_get(img, "imported_at"), now, age, sizeof(age));
        wsctl_table_add(t, (const char *const[]){wsctl_str(img, "name", "?"), wsctl_str(img, "format", "-"), size,
                                                 file, sha, age});
}

static int images_list(wsctl_ctx *ctx)
{
        static const char *const header[] = {"NAME", "FORMAT", "SIZE", "FILE", "SHA256", "IMPORTED"};

        return wsctl_print_collection(ctx, "/v1/images", "images", header, HD_ARRAY_SIZE(header),
                                      "no images (wsctl images import --help tells how to add one)", add_image_row);
}

static void print_image(wsctl_ctx *ctx, json_t *img)
{
        _cleanup_free_ char *size = bytes_text(img, "virtual_size");
        _cleanup_free_ char *file = bytes_text(img, "file_size");
        _cleanup_free_ char *imported = NULL;
        json_t *when = json_object_get(img, "imported_at");
        char age[16];

        wsctl_age_of(when, time(NULL), age, sizeof(age));
        if (json_is_string(when))
                imported = hd_asprintf("%s (%s ago)", json_string_value(when), age);
        const char *const fields[][2] = {
                {"name:", wsctl_str(img, "name", NULL)},
                {"format:", wsctl_str(img, "format", NULL)},
                {"virtual size:", size},
                {"file size:", file},
                {"sha256:", wsctl_str(img, "sha256", NULL)},
                {"imported:", imported},
        };
        wsctl_print_fields(ctx, fields, HD_ARRAY_SIZE(fields));
}

/* images show (GET) and images delete (DELETE). */
static int images_one(wsctl_ctx *ctx, const char *method, const char *name)
{
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = wsctl_path("images", name, "");
        int rc;

        if ((rc = wsctl_call(ctx, method, path, NULL, WSCTL_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json)
                wsctl_print_json(ctx, r.json);
        else if (strcmp(method, "GET") == 0)
                print_image(ctx, r.json);
        else
                fprintf(ctx->out, "deleted image %s\n", name);
        return WSCTL_EXIT_OK;
}

/* hostd opens the file itself, so a relative PATH is made absolute here. */
static char *absolute_path(const char *path)
{
        _cleanup_free_ char *cwd = NULL;

        if (path[0] == '/')
                return hd_strdup(path);
        cwd = getcwd(NULL, 0);
        return cwd ? hd_path_join(cwd, path) : NULL;
}

static int images_import(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {
                {"format", required_argument, NULL, 'f'},
                {"sha256", required_argument, NULL, 's'},
                WSCTL_COMMON_OPTIONS,
        };
        _cleanup_(json_decrefp) json_t *body = json_object();
        _cleanup_reply_ wsctl_reply r = WSCTL_REPLY_INIT;
        _cleanup_free_ char *path = NULL, *sha = NULL;
        const char *format = NULL;
        int c, rc = 0;

        while ((c = wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                if (c == 'f')
                        format = optarg;
                if (c == 's') {
                        free(sha);
                        sha = hd_strdup(optarg);
                        for (char *p = sha; *p; p++)
                                *p = (char)tolower((unsigned char)*p);
                        if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
                                return wsctl_usage_error(ctx, cmd, "images import: --sha256 wants 64 hex digits");
                }
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 2, 2)) != 0)
                return rc;
        if (!format || (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0))
                return wsctl_usage_error(ctx, cmd, "images import: --format qcow2 or --format raw is required "
                                                   "(hostd never guesses it from the content)");
        path = absolute_path(argv[optind + 1]);
        if (!path)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "cannot find the current directory: %s", strerror(errno));
        if (json_object_set_new(body, "name", json_string(argv[optind])) < 0 ||
            json_object_set_new(body, "path", json_string(path)) < 0)
                return wsctl_usage_error(ctx, cmd, "images import: NAME and PATH must be UTF-8 text");
        json_object_set_new(body, "format", json_string(format));
        if (sha)
                json_object_set_new(body, "sha256", json_string(sha));
        if ((rc = wsctl_call(ctx, "POST", "/v1/images", body, WSCTL_IMPORT_TIMEOUT_MS, false, &r)) != 0)
                return rc;
        if (ctx->json)
                wsctl_print_json(ctx, r.json);
        else
                print_image(ctx, r.json);
        return WSCTL_EXIT_OK;
}

int wsctl_cmd_images(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};
        const char *sub;
        int rc = 0;

        if (!(sub = wsctl_subcommand(ctx, cmd, &argc, &argv, &rc)))
                return rc;
        if (strcmp(sub, "import") == 0)
                return images_import(ctx, cmd, argc, argv);
        if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "delete") != 0)
                return wsctl_usage_error(ctx, cmd, "images: unknown subcommand '%s'", sub);
        if (wsctl_getopt(ctx, cmd, argc, argv, "", opts, &rc) != -1)
                return rc;
        if (strcmp(sub, "list") == 0) {
                if ((rc = wsctl_operands(ctx, cmd, argc, argv, 0, 0)) != 0)
                        return rc;
                return images_list(ctx);
        }
        if ((rc = wsctl_operands(ctx, cmd, argc, argv, 1, 1)) != 0)
                return rc;
        return images_one(ctx, strcmp(sub, "show") == 0 ? "GET" : "DELETE", argv[optind]);
}

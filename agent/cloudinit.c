/* cloudinit.c — has cloud-init finished in this guest, and how?
 *
 * cloud-init writes <run>/cloud-init/result.json ({"v1": {"datasource": …,
 * "errors": [...]}}) when its last stage ends, atomically (a rename), so the
 * file's presence means finished. Its systemd generator, which runs before
 * any service, creates <run>/cloud-init/ and puts a "disabled" marker there
 * when cloud-init will not run; a guest without cloud-init has no such
 * folder. (status.json only tracks progress; the agent does not need it.) */
#include "agent/agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *ag_ci_status_name(ag_ci_status s)
{
        switch (s) {
        case AG_CI_DONE: return "done";
        case AG_CI_ERROR: return "error";
        case AG_CI_DISABLED: return "disabled";
        default: return "pending";
        }
}

static void add_error(ag_cloudinit *ci, const char *msg)
{
        if (ci->nerrors < AG_CI_MAX_ERRORS)
                snprintf(ci->errors[ci->nerrors++], AG_CI_ERROR_LEN, "%s", msg);
}

static void read_result(const char *text, size_t len, ag_cloudinit *ci)
{
        ag_jval root, v1, errors, e;
        ag_jiter it;

        ci->status = AG_CI_DONE;
        if (ag_json_parse(text, len, &root) < 0 || ag_json_get(&root, "v1", &v1) < 0 ||
            v1.type != AG_J_OBJ) {
                ci->status = AG_CI_ERROR;
                add_error(ci, "result.json is not cloud-init's v1 result");
                return;
        }
        if (ag_json_get(&v1, "errors", &errors) < 0 || errors.type != AG_J_ARR)
                return;
        ag_json_iter(&errors, &it);
        while (ag_json_next(&it, &e)) {
                char msg[AG_CI_ERROR_LEN];

                ci->status = AG_CI_ERROR;
                if (e.type == AG_J_STR)
                        ag_json_str(&e, msg, sizeof(msg));
                else
                        snprintf(msg, sizeof(msg), "%.*s", (int)(e.end - e.p), e.p);
                add_error(ci, msg);
        }
}

void ag_cloudinit_read(const char *run, ag_cloudinit *ci)
{
        static char text[256 * 1024];
        char path[PATH_MAX];
        struct stat st;
        ssize_t len;

        memset(ci, 0, sizeof(*ci));
        ci->status = AG_CI_PENDING;
        snprintf(path, sizeof(path), "%s/cloud-init/result.json", run);
        len = ag_read_file(path, text, sizeof(text));
        if (len >= 0) {
                read_result(text, (size_t)len, ci);
                return;
        }
        if (errno != ENOENT) {
                ci->status = AG_CI_ERROR;
                add_error(ci, errno == EFBIG ? "result.json is too large to read"
                                             : "result.json cannot be read");
                return;
        }
        snprintf(path, sizeof(path), "%s/cloud-init/disabled", run);
        if (stat(path, &st) == 0) {
                ci->status = AG_CI_DISABLED;
                return;
        }
        snprintf(path, sizeof(path), "%s/cloud-init", run);
        if (stat(path, &st) < 0 && errno == ENOENT)
                ci->status = AG_CI_DISABLED;
}

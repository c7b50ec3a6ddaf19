/* inject.c — what ci_inject writes into a guest (the plan: seed, agent, unit,
 * token, startup script) and the checks made before paying for an appliance launch. The
 * libguestfs calls themselves are in guestfs.c. */
#include "cloudinit/internal.h"

#include "common/buf.h"
#include "common/cleanup.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The agent says hello while cloud-init is still running and waits for
 * cloud-init itself before it reports ready, so the unit must NOT be ordered
 * after cloud-init.target or network-online.target (the agent talks over
 * virtio-serial, not the network). Default dependencies start it after
 * basic.target, which is early enough. */
const char ci_agent_unit[] =
        "# Installed by hostd: the workspace agent, which talks to hostd over\n"
        "# virtio-serial (/dev/virtio-ports/org.hostd.agent.0).\n"
        "[Unit]\n"
        "Description=hostd workspace agent\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        "ExecStart=" CI_AGENT_PATH "\n"
        "Restart=always\n"
        "RestartSec=2\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n";

#define WANTS_LINK "/etc/systemd/system/multi-user.target.wants/hostd-agent.service"

static void add(ci_plan *plan, ci_entry e)
{
        if (plan->n < CI_PLAN_MAX) /* the plan is fixed; the bound is never reached */
                plan->entries[plan->n++] = e;
}

static void add_text(ci_plan *plan, const char *path, const char *text, unsigned mode)
{
        add(plan, (ci_entry){.kind = CI_ENTRY_FILE, .path = path, .mode = mode, .data = text,
                             .len = strlen(text)});
}

static void add_dir(ci_plan *plan, const char *path, unsigned mode)
{
        add(plan, (ci_entry){.kind = CI_ENTRY_DIR, .path = path, .mode = mode});
}

static int check_agent_binary(const char *path, hd_error *err)
{
        struct stat st;

        if (!path || path[0] != '/')
                return hd_error_set(err, HD_E_INVALID, "agent binary path must be absolute");
        if (stat(path, &st) < 0)
                return hd_error_errno(err, errno == ENOENT ? HD_E_NOT_FOUND : HD_E_IO, errno,
                                      "agent binary %s", path);
        if (!S_ISREG(st.st_mode))
                return hd_error_set(err, HD_E_INVALID, "agent binary %s is not a regular file",
                                    path);
        return 0;
}

static int check_startup(const ci_inject_req *req, hd_error *err)
{
        if (!req->startup_script)
                return 0;
        if (strncmp(req->startup_script, "#!", 2) != 0)
                return hd_error_set(err, HD_E_INVALID, "the startup script must start with \"#!\" (an interpreter line)");
        if (strlen(req->startup_script) > CI_STARTUP_SCRIPT_MAX)
                return hd_error_set(err, HD_E_TOO_LARGE, "the startup script is %zu bytes; at most %u",
                                    strlen(req->startup_script), CI_STARTUP_SCRIPT_MAX);
        if (req->startup_timeout_s > CI_STARTUP_TIMEOUT_MAX)
                return hd_error_set(err, HD_E_INVALID, "the startup script's time limit is %u s; at most %u",
                                    req->startup_timeout_s, CI_STARTUP_TIMEOUT_MAX);
        return 0;
}

int ci_plan_build(const ci_inject_req *req, ci_plan *plan, hd_error *err)
{
        const ci_seed *seed = req->seed;

        memset(plan, 0, sizeof(*plan));
        if (!seed || !seed->meta_data || !seed->user_data)
                return hd_error_set(err, HD_E_INVALID,
                                    "no rendered seed to inject (call ci_render first)");
        if (ci_token_valid(req->agent_token, err) < 0 ||
            ci_ident_valid("workspace_id", req->workspace_id, err) < 0 ||
            check_agent_binary(req->agent_binary_path, err) < 0 || check_startup(req, err) < 0)
                return -1;

        plan->owned[0] = hd_asprintf("%s\n", req->agent_token);
        plan->owned[1] = hd_asprintf("%s\n", req->workspace_id);

        add_dir(plan, CI_SEED_DIR, 0755);
        add_text(plan, CI_SEED_DIR "/meta-data", seed->meta_data, 0644);
        add_text(plan, CI_SEED_DIR "/user-data", seed->user_data, 0644);
        if (seed->network_config)
                add_text(plan, CI_SEED_DIR "/network-config", seed->network_config, 0644);

        add_dir(plan, "/usr/local/lib/hostd", 0755);
        add(plan, (ci_entry){.kind = CI_ENTRY_UPLOAD, .path = CI_AGENT_PATH, .mode = 0755,
                             .host_path = req->agent_binary_path});
        add_dir(plan, "/etc/systemd/system/multi-user.target.wants", 0755);
        add_text(plan, CI_AGENT_UNIT_PATH, ci_agent_unit, 0644);
        add(plan, (ci_entry){.kind = CI_ENTRY_SYMLINK, .path = WANTS_LINK,
                             .target = CI_AGENT_UNIT_PATH});

        /* The directory is 0700 before the token is written into it. */
        add_dir(plan, "/etc/hostd-agent", 0700);
        add_text(plan, CI_AGENT_TOKEN_PATH, plan->owned[0], 0400);
        add_text(plan, CI_AGENT_WORKSPACE_ID_PATH, plan->owned[1], 0644);
        if (req->startup_script) {
                add_text(plan, CI_AGENT_STARTUP_SCRIPT_PATH, req->startup_script, 0700);
                if (req->startup_timeout_s) {
                        plan->owned[2] = hd_asprintf("%u\n", req->startup_timeout_s);
                        add_text(plan, CI_AGENT_STARTUP_TIMEOUT_PATH, plan->owned[2], 0644);
                }
        }
        return 0;
}

void ci_plan_free(ci_plan *plan)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(plan->owned); i++) {
                if (plan->owned[i])
                        explicit_bzero(plan->owned[i], strlen(plan->owned[i]));
                free(plan->owned[i]);
                plan->owned[i] = NULL;
        }
        plan->n = 0;
}

int ci_inject(const ci_inject_req *req, hd_error *err)
{
        ci_plan plan;
        int r;

        if (ci_plan_build(req, &plan, err) < 0) {
                ci_plan_free(&plan);
                return -1;
        }
        r = ci_gfs_apply(req->disk_path, req->disk_format, &plan, req->force_tcg, err);
        ci_plan_free(&plan);
        return r;
}

/* itest-inject.c — ci_inject and ci_guest_read against a real guest image.
 *
 * Needs HOSTD_TEST_GOLDEN (a qcow2 golden image with a Linux root file
 * system), qemu-img and a working libguestfs appliance. A copy-on-write
 * overlay of the golden image gets a rendered seed, an agent binary (a copy
 * of /bin/true padded to 3 MiB, so that the read-back takes the large-file
 * path) and a token; everything is read back in one more launch and compared,
 * modes and owners included. A blank 64 MiB disk must be refused with
 * HD_E_UNUSABLE_IMAGE, and a file that is not qcow2 with qemu's reason. The appliance runs under TCG unless HOSTD_TEST_KVM=1. */
#include "cloudinit/cloudinit.h"
#include "common/common.h"
#include "tests/fixture.h"

#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

static char tmpdir[] = "/tmp/hostd-itest-inject-XXXXXX";

static const char *const test_key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFPH/c9f7UD8eXIkH7m6MSaf6yRa4y0Q1nmsM5FHkrpj "
        "alice@laptop";
static const char *const token = "itest-token_0123456789abcdefABCDEF";

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* /bin/true followed by pseudo-random bytes up to 3 MiB: runnable, unlike any
 * file the image has, and larger than one libguestfs message. */
static char *make_agent(size_t *len)
{
        _cleanup_free_ char *elf = NULL;
        size_t elf_len = 0, total = 3u << 20;
        char *data;
        uint32_t x = 2463534242u;

        if (hd_read_file("/bin/true", 1 << 20, &elf, &elf_len, NULL) < 0)
                return NULL;
        data = hd_malloc0(total);
        memcpy(data, elf, elf_len);
        for (size_t i = elf_len; i < total; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                data[i] = (char)(x & 0xff);
        }
        *len = total;
        return data;
}

static bool is_file(const ci_guest_file *f, unsigned mode)
{
        return f->exists && S_ISREG(f->mode) && (f->mode & 07777) == mode && f->uid == 0 &&
               f->gid == 0;
}

static bool same(const ci_guest_file *f, const char *data, size_t len)
{
        return f->data && f->len == len && memcmp(f->data, data, len) == 0;
}

static void test_inject(const char *golden, bool tcg)
{
        _cleanup_free_ char *overlay = hd_path_join(tmpdir, "overlay.qcow2");
        _cleanup_free_ char *agent_path = hd_path_join(tmpdir, "hostd-agent");
        _cleanup_free_ char *agent = NULL, *token_line = hd_asprintf("%s\n", token);
        const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                                "-b", golden, overlay, NULL};
        const char *keys[] = {test_key};
        json_t *net = json_pack("{s:i, s:{s:{s:b}}}", "version", 2, "ethernets", "eth0",
                                "dhcp4", 1);
        ci_request req = {.instance_id = "ws-itest", .hostname = "itest", .username = "dev",
                          .ssh_keys = keys, .n_ssh_keys = 1, .network_config = net};
        const char *const paths[] = {
                CI_SEED_DIR "/meta-data", CI_SEED_DIR "/user-data", CI_SEED_DIR "/network-config",
                CI_AGENT_PATH, CI_AGENT_UNIT_PATH,
                "/etc/systemd/system/multi-user.target.wants/hostd-agent.service",
                "/etc/hostd-agent", CI_AGENT_TOKEN_PATH, CI_AGENT_WORKSPACE_ID_PATH,
                "/etc/passwd", "/etc/hostd-agent/no-such-file", CI_AGENT_STARTUP_SCRIPT_PATH,
                CI_AGENT_STARTUP_TIMEOUT_PATH, NULL};
        ci_guest_file f[HD_ARRAY_SIZE(paths) - 1];
        ci_seed seed = {0};
        ci_inject_req ireq = {.disk_path = overlay, .disk_format = "qcow2", .seed = &seed,
                              .agent_binary_path = agent_path, .agent_token = token,
                              .workspace_id = "ws-itest", .startup_script = "#!/bin/sh\necho started\n",
                              .startup_timeout_s = 120, .force_tcg = tcg};
        hd_error err = {0};
        struct stat before, after;
        size_t agent_len = 0;
        double t0, t_inject, t_read;

        agent = make_agent(&agent_len);
        if (!CHECK(agent && hd_write_file_atomic(agent_path, agent, agent_len, 0755, &err) == 0,
                   "an agent binary is prepared") ||
            !CHECK(ci_render(&req, &seed, &err) == 0, "a seed is rendered") ||
            !CHECK(tl_run_ok(create), "a copy-on-write overlay of the golden image is created"))
                goto out;
        stat(golden, &before);

        t0 = now();
        if (!CHECK(ci_inject(&ireq, &err) == 0, "the seed, agent, token and startup script are injected")) {
                printf("#   %s\n", err.message);
                goto out;
        }
        t_inject = now() - t0;
        printf("# ci_inject took %.1f s\n", t_inject);

        t0 = now();
        if (!CHECK(ci_guest_read(overlay, "qcow2", paths, f, tcg, &err) == 0,
                   "the injected files are read back in one launch")) {
                printf("#   %s\n", err.message);
                goto out;
        }
        t_read = now() - t0;
        printf("# ci_guest_read took %.1f s\n", t_read);

        CHECK(is_file(&f[0], 0644) && same(&f[0], seed.meta_data, strlen(seed.meta_data)),
              "meta-data is in the NoCloud seed, root 0644, as rendered");
        CHECK(is_file(&f[1], 0644) && same(&f[1], seed.user_data, strlen(seed.user_data)),
              "user-data is in the NoCloud seed, root 0644, as rendered");
        CHECK(is_file(&f[2], 0644) &&
                      same(&f[2], seed.network_config, strlen(seed.network_config)),
              "network-config is in the NoCloud seed, root 0644, as rendered");
        CHECK(is_file(&f[3], 0755) && same(&f[3], agent, agent_len),
              "the agent binary arrives byte-identical, root 0755");
        CHECK(is_file(&f[4], 0644) && f[4].data &&
                      strstr(f[4].data, "\nExecStart=" CI_AGENT_PATH "\n") &&
                      strstr(f[4].data, "\nWantedBy=multi-user.target\n"),
              "the agent's unit is installed");
        CHECK(f[5].exists && S_ISLNK(f[5].mode) && f[5].link_target &&
                      strcmp(f[5].link_target, CI_AGENT_UNIT_PATH) == 0,
              "the agent's unit is enabled (multi-user.target.wants link)");
        CHECK(f[6].exists && S_ISDIR(f[6].mode) && (f[6].mode & 07777) == 0700 && f[6].uid == 0,
              "/etc/hostd-agent is a root-only directory (0700)");
        CHECK(is_file(&f[7], 0400) && same(&f[7], token_line, strlen(token_line)),
              "the token is readable by root only (0400) and exact");
        CHECK(is_file(&f[8], 0644) && same(&f[8], "ws-itest\n", 9),
              "the workspace id is written");
        CHECK(f[9].exists && f[9].data && strstr(f[9].data, "root:x:0:0:"),
              "the image's own files are still there");
        CHECK(!f[10].exists && !f[10].data, "a missing file is reported as missing");
        CHECK(is_file(&f[11], 0700) && same(&f[11], ireq.startup_script, strlen(ireq.startup_script)),
              "the startup script is written in the same launch, root 0700");
        CHECK(is_file(&f[12], 0644) && same(&f[12], "120\n", 4), "its time limit is written");
        ci_guest_files_free(f, HD_ARRAY_SIZE(f));

        stat(golden, &after);
        CHECK(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                      before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
                      before.st_size == after.st_size,
              "the golden image itself is not modified");
out:
        ci_seed_free(&seed);
        json_decref(net);
}

static void test_blank_disk(bool tcg)
{
        _cleanup_free_ char *blank = hd_path_join(tmpdir, "blank.qcow2");
        _cleanup_free_ char *agent = hd_path_join(tmpdir, "hostd-agent");
        const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", blank, "64M", NULL};
        ci_seed seed = {.meta_data = (char *)"{}\n", .user_data = (char *)"#cloud-config\n{}\n"};
        ci_inject_req req = {.disk_path = blank, .disk_format = "qcow2", .seed = &seed,
                             .agent_binary_path = agent, .agent_token = token,
                             .workspace_id = "ws-blank", .force_tcg = tcg};
        hd_error err = {0};
        double t0;

        if (!CHECK(tl_run_ok(create), "a blank 64 MiB disk is created"))
                return;
        t0 = now();
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_UNUSABLE_IMAGE,
              "a disk without a Linux root file system is an unusable image");
        CHECK_CONTAINS(err.message, "no Linux root filesystem found in the guest image",
                       "the error says no Linux root file system was found");
        printf("# refusing the blank disk took %.1f s\n", now() - t0);

        /* The format is stated, never probed: a raw file called qcow2 fails at launch. */
        req.disk_path = agent;
        CHECK(ci_inject(&req, &err) == -1 && err.code == HD_E_GUESTFS,
              "a disk whose format is not the stated one is a libguestfs error");
        CHECK_CONTAINS(err.message, "not in qcow2 format",
                       "the error carries qemu's reason, not libguestfs's generic text");
}

int main(void)
{
        const char *golden = getenv("HOSTD_TEST_GOLDEN");
        const char *kvm = getenv("HOSTD_TEST_KVM");
        bool tcg = !(kvm && strcmp(kvm, "1") == 0);
        const char *rm[] = {"rm", "-rf", tmpdir, NULL};

        if (!CHECK(golden && *golden, "HOSTD_TEST_GOLDEN names the golden qcow2 image") ||
            !CHECK(access(golden, R_OK) == 0, "the golden image is readable") ||
            !CHECK(mkdtemp(tmpdir) != NULL, "a temp dir is made"))
                return tl_done();
        test_inject(golden, tcg);
        test_blank_disk(tcg);
        hd_run(rm, NULL, NULL);
        return tl_done();
}

/* main.c — hostd's command line: -f config, -n check and exit, -h, -V. */
#include "common/common.h"
#include "hostd/config.h"
#include "hostd/daemon.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
        fprintf(out,
                "usage: hostd [-n] [-f FILE]\n"
                "\n"
                "  -f FILE   configuration file (default " HOSTD_DEFAULT_CONFIG ")\n"
                "  -n        check the configuration, print the effective values, exit\n"
                "  -h        this help\n"
                "  -V        print the version\n"
                "\n"
                "hostd runs VM workspaces on this host (libvirt/KVM) and serves the\n"
                "workspace API on a unix socket. SIGTERM stops it; workspaces keep running.\n");
}

int main(int argc, char **argv)
{
        const char *path = HOSTD_DEFAULT_CONFIG;
        bool check_only = false, explicit_path = false;
        hostd_config cfg;
        hd_error err = {0};
        int opt, level, rc;

        while ((opt = getopt(argc, argv, "f:nhV")) != -1) {
                switch (opt) {
                case 'f':
                        path = optarg;
                        explicit_path = true;
                        break;
                case 'n':
                        check_only = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("hostd %s\n", HOSTD_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        hostd_config_defaults(&cfg);
        /* Without -f, a host that has no config file yet runs on the defaults. */
        if (hostd_config_load(&cfg, path, &err) < 0 && (explicit_path || err.code != HD_E_NOT_FOUND)) {
                fprintf(stderr, "hostd: %s\n", err.message);
                hostd_config_free(&cfg);
                return 1;
        }
        if (check_only) {
                _cleanup_free_ char *dump = hostd_config_dump(&cfg);
                fputs(dump, stdout);
                fprintf(stderr, "hostd: %s: configuration OK\n", path);
                hostd_config_free(&cfg);
                return 0;
        }
        level = hd_log_level_parse(cfg.log_level);
        hd_log_set_level(level < 0 ? HD_LOG_INFO : (hd_log_level)level);
        rc = hostd_run(&cfg);
        hostd_config_free(&cfg);
        return rc;
}

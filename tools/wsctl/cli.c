/* cli.c — wsctl's command table, global options, help texts and the option
 * parsing every command shares (getopt_long with --help/--json/--socket). */
#include "tools/wsctl/wsctl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const wsctl_command commands[] = {
        {"create", "create a workspace from a golden image or a template",
         "[--image NAME | --template NAME] [--ssh-key FILE]... [--vcpus N] [--memory SIZE] [--disk SIZE]\n"
         "                    [--gpus N [--gpu-model MODEL] [--gpu-numa required|preferred]]\n"
         "                    [--idle-timeout DUR] [--lifetime DUR] [--user NAME] [--wait [--timeout DUR]] NAME",
         "  --image NAME      golden image (default: $WSCTL_IMAGE)\n"
         "  --template NAME   a template's current version: its image, size and GPUs;\n"
         "                    --vcpus, --memory, --disk and --gpus override within its ranges\n"
         "  --ssh-key FILE    public key file, one or more keys per line; repeatable\n"
         "                    (default: the first of ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub)\n"
         "  --vcpus N         virtual CPUs (default from hostd.conf)\n"
         "  --memory SIZE     memory, e.g. 4G or 512M (default from hostd.conf)\n"
         "  --disk SIZE       disk, whole GiB, e.g. 40G (default from hostd.conf)\n"
         "  --gpus N          whole GPUs passed through with VFIO, 0 to 16 (default 0)\n"
         "  --gpu-model MODEL only GPUs whose model name contains MODEL (H100) or with\n"
         "                    that vendor:device id (10de:2330)\n"
         "  --gpu-numa POLICY required: all GPUs on one NUMA node, or fail;\n"
         "                    preferred: one node when possible (the default)\n"
         "  --idle-timeout DUR stop it after DUR without activity (at least 60s; 0 or off: never;\n"
         "                    default: the template's, else hostd's default_idle_timeout)\n"
         "  --lifetime DUR    end it DUR after creation: stopped, or deleted when the template's\n"
         "                    lifetime_action says so; capped by the template's max_lifetime\n"
         "                    DUR is 90s, 30m, 2h or 1d; at most 366d\n"
         "  --user NAME       user in the guest (default: your user name)\n"
         "  --wait            follow the state changes until the workspace is ready\n"
         "  --timeout DUR     give up waiting after DUR (90s, 20m, 1h; default 20m): exit 5\n",
         wsctl_cmd_create},
        {"list", "list workspaces", "", NULL, wsctl_cmd_list},
        {"show", "show one workspace in detail", "NAME", NULL, wsctl_cmd_show},
        {"start", "start a stopped workspace", "[--wait [--timeout DUR]] NAME",
         "  --wait            follow the state changes until the workspace is ready\n"
         "  --timeout DUR     give up waiting after DUR (default 20m): exit 5\n",
         wsctl_cmd_action},
        {"stop", "stop a workspace (ACPI shutdown, forced after hostd's stop_timeout)",
         "[--force] [--wait [--timeout DUR]] NAME",
         "  --force           power off at once\n"
         "  --wait            follow the state changes until the workspace is stopped\n"
         "  --timeout DUR     give up waiting after DUR (default 20m): exit 5\n",
         wsctl_cmd_action},
        {"restart", "stop then start a workspace", "[--wait [--timeout DUR]] NAME",
         "  --wait            follow the state changes until the workspace is ready again\n"
         "  --timeout DUR     give up waiting after DUR (default 20m): exit 5\n",
         wsctl_cmd_action},
        {"delete", "delete a workspace, its disk and its domain", "[--wait [--timeout DUR]] NAME",
         "  --wait            wait until the workspace is gone\n"
         "  --timeout DUR     give up waiting after DUR (default 20m): exit 5\n",
         wsctl_cmd_action},
        {"watch", "print workspace events as they happen (state changes and their reasons), until ^C",
         "[--since ID] [NAME]",
         "  NAME              only this workspace's events (its name or id)\n"
         "  --since ID        first the logged events after event ID, then the new ones\n"
         "  With --json each event is hostd's JSON, one per line.\n"
         "  A dropped connection is reopened from the last event printed; nothing is printed twice.\n",
         wsctl_cmd_watch},
        {"extend", "put off a workspace's idle auto-stop (docs/idle-and-lifetimes.md)", "NAME DURATION",
         "  DURATION          no idle stop before now + DURATION (30m, 2h, 1d; at most 7d and\n"
         "                    never past the workspace's lifetime); replaces an earlier extend\n",
         wsctl_cmd_extend},
        {"startup-log", "print what a workspace's startup script wrote (its template's startup_script)", "NAME",
         "  Prints the end of the script's output (at most 64 KiB) once it has finished; its status\n"
         "  goes to stderr. Exit 4 while the script is pending or running.\n",
         wsctl_cmd_startup_log},
        {"ssh", "open an SSH session to a ready workspace", "[--print] NAME [-- SSH-ARGS...]",
         "  --print           print the ssh command line instead of running it\n"
         "  Everything after -- goes to ssh: its options (-i KEY, -L 8080:localhost:8080) and a command.\n",
         wsctl_cmd_ssh},
        {"ssh-config", "print ~/.ssh/config blocks (Host NAME.hostd) for ssh and VS Code Remote-SSH",
         "[NAME...]",
         "  Without NAME: every ready workspace.\n",
         wsctl_cmd_ssh_config},
        {"images", "list, show, import or delete golden images",
         "[list] | show NAME | import --format qcow2|raw [--sha256 HEX] NAME PATH | delete NAME",
         "  list              the golden images (the default)\n"
         "  show NAME         one image in detail\n"
         "  import            import PATH, a file on hostd's host, as image NAME:\n"
         "    --format F      qcow2 or raw (required; never guessed from the content)\n"
         "    --sha256 HEX    refuse the file unless its SHA-256 is HEX\n"
         "  delete NAME       delete an image no workspace uses\n",
         wsctl_cmd_images},
        {"template", "push, list, show, diff or delete workspace templates",
         "[list] | push FILE | show NAME | diff NAME [FROM [TO]] | delete NAME",
         "  list              each template at its current version (the default)\n"
         "  push FILE         send a template (docs/templates.md); new content is a new version,\n"
         "                    the same content changes nothing; a bad one lists every error\n"
         "  show NAME         the current version and every version's hash\n"
         "  diff NAME [FROM [TO]]  what changed between two versions (hashes; default:\n"
         "                    the previous version against the current one)\n"
         "  delete NAME       delete every version (refused while a workspace uses it)\n",
         wsctl_cmd_template},
        {"gpus", "list the host's GPUs, show one, read them again or clear a quarantined one",
         "[list] | show ADDRESS | refresh | clear ADDRESS",
         "  list              every GPU: state, holder, or why it is not usable (the default)\n"
         "  show ADDRESS      one GPU in detail: functions, driver, reset method\n"
         "  refresh           read the host's PCI devices and IOMMU groups again\n"
         "  clear ADDRESS     make a quarantined GPU (its reset failed) free again (admin)\n"
         "  ADDRESS is a PCI address, 0000:3b:00.0 or 3b:00.0.\n",
         wsctl_cmd_gpus},
        {"login", "keep a server, its CA and an API token: wsctl then talks HTTPS to that server",
         "--server URL [--ca FILE] [--token-file FILE]",
         "  --server URL      https://host:port of hostd's TLS listener\n"
         "  --ca FILE         the CA certificate(s) that signed the server's (default: the system's)\n"
         "  --token-file FILE read the token from FILE (default: standard input, asked for on a terminal)\n"
         "  The token is checked against the server first; then server, CA and token go to\n"
         "  $XDG_CONFIG_HOME/hostd/wsctl.conf (~/.config/hostd/wsctl.conf), mode 0600.\n",
         wsctl_cmd_login},
        {"logout", "forget what wsctl login kept (the token stays valid until revoked)", "", NULL, wsctl_cmd_logout},
        {"token", "make, list or revoke API tokens", "[list [--user NAME | --all]] | create NAME [OPTIONS] | revoke ID",
         "  list              your tokens (the default); --user NAME or --all: others'\n"
         "                    (user-admin, auditor, admin)\n"
         "  create NAME       make a token; it is printed once, alone on standard output:\n"
         "    --expires DUR   its lifetime (12h, 30d; default 30d; at most hostd's token_max_lifetime)\n"
         "    --read-only     it may only read (GET)\n"
         "    --workspace W   it may only be used on workspace W\n"
         "    --user NAME     for another user (user-admin, admin)\n"
         "  revoke ID         revoke a token (it stops working at once)\n",
         wsctl_cmd_token},
        {"user", "list, show, create, change, disable, enable or delete users (user-admin, admin)",
         "[list] | show NAME | create NAME [OPTIONS] | update NAME OPTIONS | disable NAME | enable NAME | delete NAME",
         "  list, show NAME   users and their roles (auditors too)\n"
         "  create NAME       a new user (roles: member unless --roles says otherwise)\n"
         "  update NAME       change what the options give:\n"
         "    --email ADDR    email address (\"\" clears it)\n"
         "    --groups A,B    the groups, replacing the old ones (\"\" for none)\n"
         "    --roles A,B     the roles: admin, template-admin, user-admin, auditor, member\n"
         "  disable NAME      refuse the user and every token of theirs, at once\n"
         "  enable NAME       undo disable\n"
         "  delete NAME       remove the user and its tokens (its workspaces stay)\n",
         wsctl_cmd_user},
        {"audit", "list the audit log or verify its hash chain (auditor, admin; docs/audit.md)",
         "[list] [--actor USER] [--action ACTION] [--resource TYPE[/ID]] [--since T] [--until T]\n"
         "                    [--limit N] [--after SEQ] | verify [--db] [--file FILE]... [--anchor SEQ:HASH]",
         "  list              the newest records, oldest first (the default):\n"
         "    --actor USER    done by USER (or by an admin on USER's behalf)\n"
         "    --action A      e.g. 'POST /v1/workspaces/{ref}/stop'; a trailing * matches a prefix\n"
         "    --resource R    a type (workspace) or type/id (workspace/dev1)\n"
         "    --since T, --until T  UTC times (2024-05-01T10:00:00Z, 2024-05-01) or ages (24h, 7d)\n"
         "    --limit N       at most N records (default 50, at most 1000)\n"
         "    --after SEQ     the records after SEQ, oldest first (paging; prints the next SEQ)\n"
         "  verify            check the hash chain and name the first bad record (exit 1):\n"
         "    --db            hostd's database, read through the API (the default)\n"
         "    --file FILE     the JSONL file (offline; repeat for rotated files, oldest first);\n"
         "                    with --db too, both must also end with the same record\n"
         "    --anchor SEQ:HASH  the files start after this record (e.g. the last line of an\n"
         "                    older rotated file), not at the beginning of the log\n",
         wsctl_cmd_audit},
        {"quota", "show your limits and use; list, set or remove limits of users and groups",
         "[show] | list | set (--user NAME | --group NAME) LIMIT... | unset (--user NAME | --group NAME) [RESOURCE...]",
         "  show              your limits in effect, your use, and where each limit comes from\n"
         "                    (the default; a limit set on you, else the largest of your groups')\n"
         "  list              every limit set on users and groups (admin, user-admin, auditor)\n"
         "  set               change limits of a user or group (admin, user-admin); others stay:\n"
         "    --workspaces N  workspaces, stopped ones included\n"
         "    --vcpus N       vCPUs of running workspaces\n"
         "    --memory SIZE   memory of running workspaces, e.g. 64G\n"
         "    --disk SIZE     disk of all workspaces, e.g. 1T\n"
         "    --gpus MODEL=N  GPUs of that model (H100=2, 10de:2330=1; any=4 counts every GPU);\n"
         "                    repeatable\n"
         "  unset             remove the limits named (--vcpus, --memory, --disk, --workspaces,\n"
         "                    --gpus MODEL; no value), or every limit of the user or group\n",
         wsctl_cmd_quota},
};

static const char exit_codes_help[] =
        "Exit codes:\n"
        "  0  success\n"
        "  1  hostd refused or failed the request (its message is printed)\n"
        "  2  usage error\n"
        "  3  cannot reach hostd (socket missing, permission denied, no answer)\n"
        "  4  the workspace failed, or is not in the state the command needs\n"
        "  5  --wait timed out\n";

static const char env_help[] =
        "Environment:\n"
        "  HOSTD_SOCKET        hostd's socket (default " WSCTL_DEFAULT_SOCKET "); set, it is used even\n"
        "                      after wsctl login\n"
        "  XDG_CONFIG_HOME     where hostd/wsctl.conf (wsctl login) is; default ~/.config\n"
        "  WSCTL_IMAGE         default image of create\n"
        "  WSCTL_SSH_WRAPPER   words put before ssh, e.g. \"ip netns exec NS\"\n";

static const char common_help[] =
        "  --json            print hostd's JSON answer (pretty, sorted keys)\n"
        "  --socket PATH     hostd's socket (default $HOSTD_SOCKET, else " WSCTL_DEFAULT_SOCKET ");\n"
        "                    given, wsctl uses it even after wsctl login\n"
        "  --as USER         act on behalf of USER (admins only): what you create is USER's,\n"
        "                    you see and act on USER's workspaces, USER's quotas apply\n"
        "  -h, --help        this help\n";

static void vmessage(wsctl_ctx *ctx, const char *fmt, va_list ap)
{
        fputs("wsctl: ", ctx->err);
        vfprintf(ctx->err, fmt, ap);
        fputc('\n', ctx->err);
}

int wsctl_fail(wsctl_ctx *ctx, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vmessage(ctx, fmt, ap);
        va_end(ap);
        return code;
}

static void usage_line(const wsctl_command *cmd, FILE *f)
{
        fprintf(f, "usage: wsctl %s%s%s\n", cmd->name, *cmd->usage ? " " : "", cmd->usage);
}

void wsctl_command_help(wsctl_ctx *ctx, const wsctl_command *cmd, FILE *f)
{
        usage_line(cmd, f);
        fprintf(f, "\n%c%s.\n\nOptions:\n%s%s", toupper((unsigned char)cmd->summary[0]), cmd->summary + 1,
                cmd->options ? cmd->options : "", common_help);
}

int wsctl_usage_error(wsctl_ctx *ctx, const wsctl_command *cmd, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vmessage(ctx, fmt, ap);
        va_end(ap);
        if (cmd) {
                usage_line(cmd, ctx->err);
                fprintf(ctx->err, "(wsctl %s --help for more)\n", cmd->name);
        } else {
                fputs("usage: wsctl [--socket PATH] [--json] [--as USER] COMMAND [ARGS]  (wsctl --help for more)\n",
                      ctx->err);
        }
        return WSCTL_EXIT_USAGE;
}

int wsctl_operands(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, int min, int max)
{
        int n = argc - optind;

        if (n < min)
                return wsctl_usage_error(ctx, cmd, "%s: missing %s", cmd->name, min == 1 ? "NAME" : "arguments");
        if (max >= 0 && n > max)
                return wsctl_usage_error(ctx, cmd, "%s: unexpected argument '%s'", cmd->name, argv[optind + max]);
        return 0;
}

const char *wsctl_subcommand(wsctl_ctx *ctx, const wsctl_command *cmd, int *argc, char ***argv, int *rc)
{
        static const struct option opts[] = {WSCTL_COMMON_OPTIONS};

        if (wsctl_getopt(ctx, cmd, *argc, *argv, "+", opts, rc) != -1)
                return NULL;
        if (optind >= *argc)
                return "list";
        *argc -= optind;
        *argv += optind;
        optind = 0;
        return (*argv)[0];
}

static const wsctl_command *find_command(const char *name)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static void main_help(FILE *f)
{
        fputs("usage: wsctl [--socket PATH] [--json] [--as USER] COMMAND [ARGS]\n"
              "\n"
              "wsctl asks hostd for VM workspaces and connects you to them.\n"
              "\n"
              "Commands:\n",
              f);
        for (size_t i = 0; i < HD_ARRAY_SIZE(commands); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fputs("  help CMD     the options of CMD (same as wsctl CMD --help)\n"
              "\n"
              "Options:\n",
              f);
        fputs(common_help, f);
        fputs("  --version         print wsctl's version\n\n", f);
        fputs(exit_codes_help, f);
        fputc('\n', f);
        fputs(env_help, f);
}

/* Name the offending option of a getopt error: "--foo", "-x". */
static void bad_option(char *buf, size_t len, int argc, char **argv)
{
        const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";

        if (strncmp(arg, "--", 2) == 0)
                snprintf(buf, len, "%.*s", (int)strcspn(arg, "="), arg);
        else
                snprintf(buf, len, "-%c", optopt ? optopt : '?');
}

int wsctl_getopt(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv, const char *shortopts,
                 const struct option *longopts, int *rc)
{
        _cleanup_free_ char *spec = NULL;
        bool in_order = shortopts[0] == '+';
        char what[128];
        int c;

        /* ':' first: a missing value is reported as ':' rather than printed by getopt. */
        spec = hd_asprintf("%s:h%s", in_order ? "+" : "", shortopts + in_order);
        opterr = 0;
        for (;;) {
                c = getopt_long(argc, argv, spec, longopts, NULL);
                switch (c) {
                case 'h':
                        if (cmd)
                                wsctl_command_help(ctx, cmd, ctx->out);
                        else
                                main_help(ctx->out);
                        *rc = WSCTL_EXIT_OK;
                        return WSCTL_OPT_STOP;
                case 'J':
                        ctx->json = true;
                        continue;
                case 'S':
                        ctx->socket_path = optarg;
                        ctx->socket_explicit = true;
                        continue;
                case 'O':
                        ctx->as_user = optarg;
                        continue;
                case '?':
                        bad_option(what, sizeof(what), argc, argv);
                        *rc = wsctl_usage_error(ctx, cmd, "%s%sunknown option %s", cmd ? cmd->name : "",
                                                cmd ? ": " : "", what);
                        return WSCTL_OPT_STOP;
                case ':':
                        bad_option(what, sizeof(what), argc, argv);
                        *rc = wsctl_usage_error(ctx, cmd, "%s%soption %s needs a value", cmd ? cmd->name : "",
                                                cmd ? ": " : "", what);
                        return WSCTL_OPT_STOP;
                default:
                        return c;
                }
        }
}

/* Run cmd with what wsctl login kept, unless a socket was asked for (login
 * and logout replace or remove it, so they do not read it). */
static int run_command(wsctl_ctx *ctx, const wsctl_command *cmd, int argc, char **argv)
{
        hd_error err = {0};
        int rc;

        if (!ctx->socket_explicit && cmd->run != wsctl_cmd_login && cmd->run != wsctl_cmd_logout &&
            wsctl_config_load(&ctx->conf, &err) < 0)
                return wsctl_fail(ctx, WSCTL_EXIT_ERROR, "%s", err.message);
        rc = cmd->run(ctx, cmd, argc, argv);
        wsctl_config_clear(&ctx->conf);
        return rc;
}

int wsctl_main(wsctl_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                {"version", no_argument, NULL, 'V'},
                WSCTL_COMMON_OPTIONS,
        };
        const wsctl_command *cmd;
        int c, rc = 0;

        if (!ctx->socket_path) {
                const char *env = getenv("HOSTD_SOCKET");
                ctx->socket_path = env && *env ? env : WSCTL_DEFAULT_SOCKET;
                ctx->socket_explicit = env && *env;
        }
        optind = 0; /* glibc: a full re-initialization, so wsctl_main can run again */
        while ((c = wsctl_getopt(ctx, NULL, argc, argv, "+", opts, &rc)) != -1) {
                if (c == WSCTL_OPT_STOP)
                        return rc;
                fprintf(ctx->out, "wsctl %s\n", HOSTD_VERSION); /* --version */
                return WSCTL_EXIT_OK;
        }
        if (optind >= argc)
                return wsctl_usage_error(ctx, NULL, "no command given");
        if (strcmp(argv[optind], "help") == 0) {
                if (optind + 1 >= argc) {
                        main_help(ctx->out);
                        return WSCTL_EXIT_OK;
                }
                cmd = find_command(argv[optind + 1]);
                if (!cmd)
                        return wsctl_usage_error(ctx, NULL, "unknown command '%s'", argv[optind + 1]);
                wsctl_command_help(ctx, cmd, ctx->out);
                return WSCTL_EXIT_OK;
        }
        cmd = find_command(argv[optind]);
        if (!cmd)
                return wsctl_usage_error(ctx, NULL, "unknown command '%s'", argv[optind]);
        argv += optind;
        argc -= optind;
        optind = 0;
        return run_command(ctx, cmd, argc, argv);
}

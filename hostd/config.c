/* config.c — parse hostd.conf into a hostd_config, one table of keys. */
#include "hostd/config.h"
#include "common/kv.h"

#include "api/api.h"
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* T_RATIO: a decimal number (double); its min and max are in hundredths. */
typedef enum { T_STRING, T_PATH, T_NAME, T_SIZE, T_DURATION, T_UINT, T_MODE, T_ENUM, T_RATIO } key_type;

typedef struct key_def {
        const char *name;
        key_type type;
        size_t offset;
        uint64_t min, max;       /* T_UINT, T_SIZE, T_DURATION */
        const char *const *choices; /* T_ENUM */
        const char *help;        /* one line, for the reference in the README */
} key_def;

static const char *const virt_types[] = {"auto", "kvm", "qemu", NULL};
static const char *const on_off[] = {"on", "off", NULL};
static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};

#ifndef HOSTD_AGENT_PATH
#define HOSTD_AGENT_PATH "/usr/local/libexec/hostd/hostd-agent"
#endif

#define OFF(f) offsetof(hostd_config, f)
#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define KiB (1ull << 10)

static const key_def keys[] = {
        {"state_dir", T_PATH, OFF(state_dir), 0, 0, NULL, "images, disks and the database"},
        {"run_dir", T_PATH, OFF(run_dir), 0, 0, NULL, "runtime sockets"},
        {"log_dir", T_PATH, OFF(log_dir), 0, 0, NULL, "workspace console logs"},
        {"socket", T_PATH, OFF(socket_path), 0, 0, NULL, "API unix socket"},
        {"socket_group", T_NAME, OFF(socket_group), 0, 0, NULL, "group owning the API socket"},
        {"socket_mode", T_MODE, OFF(socket_mode), 0, 0777, NULL, "API socket mode (octal)"},
        {"libvirt_uri", T_STRING, OFF(libvirt_uri), 0, 0, NULL, "libvirt connection URI"},
        {"virt_type", T_ENUM, OFF(virt_type), 0, 0, virt_types, "auto, kvm or qemu (TCG)"},
        {"network", T_NAME, OFF(network), 0, 0, NULL, "libvirt network for workspaces"},
        {"bridge", T_NAME, OFF(bridge), 0, 0, NULL, "host bridge for workspaces"},
        {"agent_binary", T_PATH, OFF(agent_binary), 0, 0, NULL, "static agent injected into guests"},
        {"log_level", T_ENUM, OFF(log_level), 0, 0, log_levels, "error … debug"},
        {"max_image_size", T_SIZE, OFF(max_image_size), MiB, 1ull << 50, NULL, "largest golden image (virtual)"},
        {"default_vcpus", T_UINT, OFF(default_vcpus), 1, 1024, NULL, "vCPUs when a request names none"},
        {"max_vcpus", T_UINT, OFF(max_vcpus), 1, 1024, NULL, "most vCPUs one workspace may have"},
        {"default_memory", T_SIZE, OFF(default_memory), 128 * MiB, 1ull << 42, NULL, "memory when a request names none"},
        {"max_memory", T_SIZE, OFF(max_memory), 128 * MiB, 1ull << 42, NULL, "most memory one workspace may have"},
        {"default_disk", T_SIZE, OFF(default_disk), GiB, 1ull << 45, NULL, "disk size when a request names none"},
        {"max_disk", T_SIZE, OFF(max_disk), GiB, 1ull << 45, NULL, "largest workspace disk"},
        {"agent_hello_timeout", T_DURATION, OFF(agent_hello_timeout), 10, 86400, NULL, "boot to agent hello, else failed"},
        {"stop_timeout", T_DURATION, OFF(stop_timeout), 1, 3600, NULL, "ACPI shutdown grace before forcing"},
        {"default_idle_timeout", T_DURATION, OFF(default_idle_timeout), 0, 31536000, NULL, "idle auto-stop when a template sets none (0 off)"},
        {"lifetime_warning", T_DURATION, OFF(lifetime_warning), 0, 2592000, NULL, "warning event this long before a lifetime ends (0 none)"},
        {"idle_cpu_percent", T_UINT, OFF(idle_cpu_percent), 1, 100, NULL, "load below this % of the vCPUs is idle"},
        {"idle_gpu_percent", T_UINT, OFF(idle_gpu_percent), 1, 100, NULL, "GPU utilisation below this % is idle"},
        {"workers", T_UINT, OFF(workers), 1, 64, NULL, "worker threads for long operations"},
        {"api_max_body", T_SIZE, OFF(api_max_body), 1024, 64 * MiB, NULL, "largest request body"},
        {"api_connection_timeout", T_DURATION, OFF(api_connection_timeout), 1, 3600, NULL, "idle API connection timeout"},
        {"api_max_connections", T_UINT, OFF(api_max_connections), 1, 10000, NULL, "concurrent API connections (each listener)"},
        {"api_max_connections_per_ip", T_UINT, OFF(api_max_connections_per_ip), 1, 10000, NULL, "concurrent HTTPS connections from one address"},
        {"api_header_timeout", T_DURATION, OFF(api_header_timeout), 1, 3600, NULL, "connect (or last response) to complete headers, TLS handshake included"},
        {"api_request_timeout", T_DURATION, OFF(api_request_timeout), 1, 86400, NULL, "connect (or last response) to complete request, body included"},
        {"api_max_header_size", T_SIZE, OFF(api_max_header_size), 8 * KiB, MiB, NULL, "request line and headers (larger: 431)"},
        {"api_auth_failures_per_minute", T_UINT, OFF(api_auth_failures_per_minute), 1, 10000, NULL, "failed HTTPS authentications per address, then 429"},
        {"listen", T_STRING, OFF(listen), 0, 0, NULL, "HTTPS address:port, e.g. 0.0.0.0:8443 or [::]:8443 (unset: unix socket only)"},
        {"tls_cert", T_PATH, OFF(tls_cert), 0, 0, NULL, "HTTPS certificate (PEM, then its chain)"},
        {"tls_key", T_PATH, OFF(tls_key), 0, 0, NULL, "HTTPS private key (PEM, unencrypted, mode 0600)"},
        {"tls_min_version", T_ENUM, OFF(tls_min_version), 0, 0, tls_versions, "oldest TLS version accepted: 1.2 or 1.3"},
        {"api_max_event_streams", T_UINT, OFF(api_max_event_streams), 0, 10000, NULL, "open event streams (GET /v1/events), beside those"},
        {"gpu_sysfs_root", T_PATH, OFF(gpu_sysfs_root), 0, 0, NULL, "sysfs to read GPUs and IOMMU groups from"},
        {"gpu_pci_ids", T_PATH, OFF(gpu_pci_ids), 0, 0, NULL, "pci.ids for GPU model names"},
        {"gpu_kernel_cmdline", T_PATH, OFF(gpu_kernel_cmdline), 0, 0, NULL, "kernel command line (ACS override check)"},
        {"gpu_rom_bar", T_ENUM, OFF(gpu_rom_bar), 0, 0, on_off, "off hides passed-through cards' option ROM"},
        {"templates_dir", T_PATH, OFF(templates_dir), 0, 0, NULL, "template files pushed at start (missing: none)"},
        {"hugepages_min_memory", T_SIZE, OFF(hugepages_min_memory), 0, 1ull << 42, NULL, "hugepage backing from this memory up (0 never)"},
        {"oidc_issuer", T_STRING, OFF(oidc_issuer), 0, 0, NULL, "OIDC: the IdP's issuer (iss); unset: OIDC off"},
        {"oidc_audience", T_STRING, OFF(oidc_audience), 0, 0, NULL, "OIDC: the client id tokens must name in aud"},
        {"oidc_jwks_file", T_PATH, OFF(oidc_jwks_file), 0, 0, NULL, "OIDC: the IdP's signing keys (JWKS) from a file"},
        {"oidc_jwks_url", T_STRING, OFF(oidc_jwks_url), 0, 0, NULL, "OIDC: ... or from this https:// URL"},
        {"oidc_ca_file", T_PATH, OFF(oidc_ca_file), 0, 0, NULL, "OIDC: CA bundle for oidc_jwks_url (unset: the system's)"},
        {"oidc_clock_skew", T_DURATION, OFF(oidc_clock_skew), 0, 600, NULL, "OIDC: leeway on exp, nbf and iat"},
        {"oidc_jwks_refresh_min", T_DURATION, OFF(oidc_jwks_refresh_min), 1, 86400, NULL, "OIDC: least time between key reloads for unknown kids"},
        {"oidc_jwks_max_age", T_DURATION, OFF(oidc_jwks_max_age), 60, 604800, NULL, "OIDC: keys are reloaded once this old"},
        {"oidc_user_claim", T_STRING, OFF(oidc_user_claim), 0, 0, NULL, "OIDC: the claim holding the user name"},
        {"oidc_groups_claim", T_STRING, OFF(oidc_groups_claim), 0, 0, NULL, "OIDC: the claim holding the groups"},
        {"oidc_role_map", T_STRING, OFF(oidc_role_map), 0, 0, NULL, "OIDC: group=role, ... (others: member)"},
        {"oidc_email_domains", T_STRING, OFF(oidc_email_domains), 0, 0, NULL, "OIDC: allowed email domains, comma-separated"},
        {"token_max_lifetime", T_DURATION, OFF(token_max_lifetime), 60, 10u * 366 * 86400, NULL, "longest lifetime of an API token"},
        {"bootstrap_token_file", T_PATH, OFF(bootstrap_token_file), 0, 0, NULL, "first start's admin token (default <state_dir>/bootstrap-token)"},
        {"audit_file", T_PATH, OFF(audit_file), 0, 0, NULL, "audit log as JSON lines, for the SIEM (docs/audit.md)"},
        {"audit_retention_days", T_UINT, OFF(audit_retention_days), 0, 36500, NULL, "audit records kept in the database (0 forever)"},
        {"vcpu_overcommit", T_RATIO, OFF(vcpu_overcommit), 10, 100000, NULL, "vCPUs all workspaces may hold per host CPU"},
        {"memory_overcommit", T_RATIO, OFF(memory_overcommit), 10, 10000, NULL, "workspace memory per byte of host memory left"},
        {"reserved_memory", T_SIZE, OFF(reserved_memory), 0, 1ull << 42, NULL, "host memory no workspace may take"},
};

static char **str_field(hostd_config *cfg, const key_def *k)
{
        return (char **)((char *)cfg + k->offset);
}

void hostd_config_defaults(hostd_config *cfg)
{
        *cfg = (hostd_config){
                .state_dir = hd_strdup("/var/lib/hostd"),
                .run_dir = hd_strdup("/run/hostd"),
                .log_dir = hd_strdup("/var/log/hostd"),
                .socket_path = hd_strdup("/run/hostd/hostd.sock"),
                .socket_group = hd_strdup("hostd"),
                .socket_mode = 0660,
                .libvirt_uri = hd_strdup("qemu:///system"),
                .virt_type = hd_strdup("auto"),
                .network = hd_strdup("default"),
                .bridge = NULL,
                .agent_binary = hd_strdup(HOSTD_AGENT_PATH),
                .log_level = hd_strdup("info"),
                .max_image_size = 256 * GiB,
                .default_vcpus = 2,
                .max_vcpus = 16,
                .default_memory = 2 * GiB,
                .max_memory = 64 * GiB,
                .default_disk = 20 * GiB,
                .max_disk = 500 * GiB,
                .agent_hello_timeout = 600,
                .stop_timeout = 60,
                .lifetime_warning = 15 * 60,
                .idle_cpu_percent = 5,
                .idle_gpu_percent = 10,
                .workers = 4,
                .api_max_body = MiB,
                .api_connection_timeout = 30,
                .api_max_connections = 256,
                .api_max_connections_per_ip = 16,
                .api_header_timeout = 10,
                .api_request_timeout = 60,
                .api_max_header_size = 32 * KiB,
                .api_auth_failures_per_minute = 10,
                .tls_min_version = hd_strdup("1.2"),
                .api_max_event_streams = 64,
                .gpu_sysfs_root = hd_strdup("/sys"),
                .gpu_pci_ids = hd_strdup("/usr/share/misc/pci.ids"),
                .gpu_kernel_cmdline = hd_strdup("/proc/cmdline"),
                .hugepages_min_memory = 0,
                .gpu_rom_bar = hd_strdup("on"),
                .templates_dir = hd_strdup("/etc/hostd/templates"),
                .oidc_clock_skew = 60,
                .oidc_jwks_refresh_min = 60,
                .oidc_jwks_max_age = 3600,
                .oidc_user_claim = hd_strdup("preferred_username"),
                .oidc_groups_claim = hd_strdup("groups"),
                .token_max_lifetime = 90 * 86400,
                .bootstrap_token_file = hd_strdup("/var/lib/hostd/bootstrap-token"),
                .audit_file = hd_strdup("/var/log/hostd/audit.jsonl"),
                .audit_retention_days = 365,
                .vcpu_overcommit = 4.0,
                .memory_overcommit = 1.0,
                .reserved_memory = GiB,
        };
}

void hostd_config_free(hostd_config *cfg)
{
        for (size_t i = 0; i < HD_ARRAY_SIZE(keys); i++) {
                const key_def *k = &keys[i];
                if (k->type == T_STRING || k->type == T_PATH || k->type == T_NAME ||
                    k->type == T_ENUM) {
                        char **p = str_field(cfg, k);
                        free(*p);
                        *p = NULL;
                }
        }
}

__attribute__((format(printf, 4, 5)))
static int bad(hd_error *err, const char *path, unsigned line, const char *fmt, ...)
{
        char what[384];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return hd_error_set(err, HD_E_INVALID, "%s:%u: %s", path, line, what);
}

static int set_number(hostd_config *cfg, const key_def *k, uint64_t v)
{
        void *p = (char *)cfg + k->offset;

        if (k->type == T_SIZE)
                *(uint64_t *)p = v;
        else if (k->type == T_MODE)
                *(mode_t *)p = (mode_t)v;
        else
                *(unsigned *)p = (unsigned)v;
        return 0;
}

static bool valid_name(const char *v)
{
        if (!*v || strlen(v) > 64)
                return false;
        for (const char *c = v; *c; c++)
                if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
                        return false;
        return true;
}

/* Parse one value into its field; message on error names key and value. */
static int set_value(hostd_config *cfg, const key_def *k, const char *v, const char *path,
                     unsigned line, hd_error *err)
{
        uint64_t n = 0;
        char range[96];

        switch (k->type) {
        case T_PATH:
                if (v[0] != '/')
                        return bad(err, path, line, "%s must be an absolute path, not '%s'", k->name, v);
                break;
        case T_NAME:
                if (!valid_name(v))
                        return bad(err, path, line,
                                   "%s must be a name of letters, digits, '-', '_' or '.', not '%s'",
                                   k->name, v);
                break;
        case T_ENUM: {
                bool ok = false;
                char list[128] = "";
                for (const char *const *c = k->choices; *c; c++) {
                        ok |= strcmp(*c, v) == 0;
                        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                                 c == k->choices ? "" : ", ", *c);
                }
                if (!ok)
                        return hd_error_set(err, HD_E_INVALID, "%s:%u: %s must be one of %s, not '%s'",
                                            path, line, k->name, list, v);
                break;
        }
        case T_SIZE:
                if (hd_parse_size(v, &n) < 0)
                        return bad(err, path, line, "%s: '%s' is not a size (e.g. 512M, 20G)", k->name, v);
                break;
        case T_DURATION:
                if (hd_parse_duration(v, &n) < 0)
                        return bad(err, path, line, "%s: '%s' is not a duration (e.g. 90s, 10m, 2h)",
                                   k->name, v);
                break;
        case T_UINT: {
                char *end;
                errno = 0;
                n = strtoull(v, &end, 10);
                if (!isdigit((unsigned char)v[0]) || *end || errno)
                        return bad(err, path, line, "%s: '%s' is not a whole number", k->name, v);
                break;
        }
        case T_MODE: {
                char *end;
                n = strtoull(v, &end, 8);
                if (v[0] != '0' || *end || n > 0777)
                        return bad(err, path, line, "%s: '%s' is not an octal mode like 0660", k->name, v);
                break;
        }
        case T_RATIO: {
                char *end;
                double d;
                errno = 0;
                d = strtod(v, &end);
                if (!isdigit((unsigned char)v[0]) || *end || errno)
                        return bad(err, path, line, "%s: '%s' is not a decimal number like 4 or 1.5", k->name, v);
                if (d * 100 < (double)k->min - 1e-9 || d * 100 > (double)k->max + 1e-9)
                        return bad(err, path, line, "%s must be between %g and %g", k->name, k->min / 100.0,
                                   k->max / 100.0);
                *(double *)((char *)cfg + k->offset) = d;
                return 0;
        }
        case T_STRING:
                break;
        }
        if ((k->type == T_UINT || k->type == T_SIZE || k->type == T_DURATION) &&
            (n < k->min || n > k->max)) {
                if (k->type == T_SIZE) {
                        char lo[32], hi[32];
                        hd_format_size(k->min, lo, sizeof(lo));
                        hd_format_size(k->max, hi, sizeof(hi));
                        snprintf(range, sizeof(range), "%s and %s", lo, hi);
                } else {
                        snprintf(range, sizeof(range), "%llu and %llu%s", (unsigned long long)k->min,
                                 (unsigned long long)k->max, k->type == T_DURATION ? " seconds" : "");
                }
                return bad(err, path, line, "%s must be between %s", k->name, range);
        }
        if (k->type == T_UINT || k->type == T_SIZE || k->type == T_DURATION || k->type == T_MODE)
                return set_number(cfg, k, n);
        free(*str_field(cfg, k));
        *str_field(cfg, k) = hd_strdup(v);
        return 0;
}

static size_t key_index(const char *name)
{
        size_t i = 0;

        while (i < HD_ARRAY_SIZE(keys) - 1 && strcmp(keys[i].name, name) != 0)
                i++;
        return i;
}

int hostd_config_load(hostd_config *cfg, const char *path, hd_error *err)
{
        _cleanup_free_ char *data = NULL;
        bool seen[HD_ARRAY_SIZE(keys)] = {false};
        unsigned line = 0;
        hd_error e = {0};
        int r;

        if (hd_read_file(path, 1 << 20, &data, NULL, err) < 0)
                return -1;
        for (char *cursor = data, *key, *val; (r = hd_kv_next(&cursor, &line, &key, &val, &e)) != 0;) {
                const key_def *k;

                if (r < 0)
                        return hd_error_set(err, HD_E_INVALID, "%s:%s", path, e.message);
                k = &keys[key_index(key)];
                if (strcmp(k->name, key) != 0)
                        return bad(err, path, line, "unknown key '%s'", key);
                if (seen[k - keys])
                        return bad(err, path, line, "'%s' is set twice", key);
                seen[k - keys] = true;
                if (!*val)
                        return bad(err, path, line, "'%s' has no value", key);
                if (set_value(cfg, k, val, path, line, err) < 0)
                        return -1;
        }
        /* The bootstrap token lives in the state directory unless named. */
        if (!seen[key_index("bootstrap_token_file")]) {
                free(cfg->bootstrap_token_file);
                cfg->bootstrap_token_file = hd_path_join(cfg->state_dir, "bootstrap-token");
        }
        /* Naming a bridge replaces the default network (naming both is an error). */
        if (seen[key_index("bridge")] && !seen[key_index("network")]) {
                free(cfg->network);
                cfg->network = NULL;
        }
        if (hostd_config_check(cfg, err) < 0)
                return hd_error_prefix(err, "%s", path);
        return 0;
}

void hostd_config_oidc(const hostd_config *cfg, api_oidc_config *out)
{
        /* The claim names have defaults: they alone do not turn OIDC on. */
        bool on = cfg->oidc_issuer != NULL;

        *out = (api_oidc_config){
                .issuer = cfg->oidc_issuer,
                .audience = cfg->oidc_audience,
                .jwks_file = cfg->oidc_jwks_file,
                .jwks_url = cfg->oidc_jwks_url,
                .ca_file = cfg->oidc_ca_file,
                .clock_skew = cfg->oidc_clock_skew,
                .jwks_refresh_min = cfg->oidc_jwks_refresh_min,
                .jwks_max_age = cfg->oidc_jwks_max_age,
                .user_claim = on ? cfg->oidc_user_claim : NULL,
                .groups_claim = on ? cfg->oidc_groups_claim : NULL,
                .role_map = cfg->oidc_role_map,
                .email_domains = cfg->oidc_email_domains,
        };
}

/* HTTPS only: a TCP listener needs a certificate and key that work. */
static int check_https(const hostd_config *cfg, hd_error *err)
{
        if (!cfg->listen) {
                if (cfg->tls_cert || cfg->tls_key)
                        return hd_error_set(err, HD_E_INVALID,
                                            "tls_cert and tls_key are set but listen is not: set listen = "
                                            "ADDRESS:PORT to serve HTTPS, or remove them");
                return 0;
        }
        if (api_listen_check(cfg->listen, err) < 0)
                return -1;
        if (!cfg->tls_cert || !cfg->tls_key)
                return hd_error_set(err, HD_E_INVALID,
                                    "listen = %s needs tls_cert and tls_key: hostd serves TCP over TLS only "
                                    "(docs/https.md)",
                                    cfg->listen);
        return api_tls_check(cfg->tls_cert, cfg->tls_key, NULL, err);
}

int hostd_config_check(const hostd_config *cfg, hd_error *err)
{
        api_oidc_config oidc;

        if (cfg->network && cfg->bridge)
                return hd_error_set(err, HD_E_INVALID,
                                    "set either 'network' or 'bridge' for workspace NICs, not both");
        if (!cfg->network && !cfg->bridge)
                return hd_error_set(err, HD_E_INVALID, "set 'network' or 'bridge' for workspace NICs");
        if (cfg->default_vcpus > cfg->max_vcpus)
                return hd_error_set(err, HD_E_INVALID, "default_vcpus (%u) is above max_vcpus (%u)",
                                    cfg->default_vcpus, cfg->max_vcpus);
        if (cfg->default_memory > cfg->max_memory)
                return hd_error_set(err, HD_E_INVALID, "default_memory is above max_memory");
        if (cfg->default_disk > cfg->max_disk)
                return hd_error_set(err, HD_E_INVALID, "default_disk is above max_disk");
        if (cfg->api_header_timeout > cfg->api_request_timeout)
                return hd_error_set(err, HD_E_INVALID, "api_header_timeout (%us) is above api_request_timeout (%us)",
                                    cfg->api_header_timeout, cfg->api_request_timeout);
        if (check_https(cfg, err) < 0)
                return -1;
        hostd_config_oidc(cfg, &oidc);
        return api_oidc_config_check(&oidc, err);
}

char *hostd_config_dump(const hostd_config *cfg)
{
        hd_buf b = HD_BUF_INIT;

        for (size_t i = 0; i < HD_ARRAY_SIZE(keys); i++) {
                const key_def *k = &keys[i];
                const void *p = (const char *)cfg + k->offset;
                char v[64];

                switch (k->type) {
                case T_SIZE:
                        hd_format_size(*(const uint64_t *)p, v, sizeof(v));
                        break;
                case T_DURATION:
                        snprintf(v, sizeof(v), "%us", *(const unsigned *)p);
                        break;
                case T_UINT:
                        snprintf(v, sizeof(v), "%u", *(const unsigned *)p);
                        break;
                case T_MODE:
                        snprintf(v, sizeof(v), "%04o", (unsigned)*(const mode_t *)p);
                        break;
                case T_RATIO:
                        snprintf(v, sizeof(v), "%g", *(const double *)p);
                        break;
                default: {
                        const char *s = *(char *const *)p;
                        if (!s)
                                continue;
                        hd_buf_appendf(&b, "%s = %s\n", k->name, s);
                        continue;
                }
                }
                hd_buf_appendf(&b, "%s = %s\n", k->name, v);
        }
        return hd_buf_steal(&b);
}

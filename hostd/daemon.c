/* daemon.c — wire config, service, worker pool, agent link thread and API
 * together; wait for signals (SIGHUP: reload the HTTPS certificate); shut
 * down leaving workspaces running. */
#include "hostd/daemon.h"

#include "api/api.h"
#include "common/common.h"
#include "hostd/workers.h"
#include "orchestrator/service.h"
#include "orchestrator/users.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static atomic_bool agents_stop;

static void log_reconcile(void *ctx, const char *line)
{
        log_notice("reconcile: %s", line);
}

static void log_agent(void *ctx, const char *line)
{
        log_info("agent: %s", line);
}

static void log_audit(const char *line)
{
        log_error("%s", line);
}

/* Push the template directory's files as versions: all of them, or none
 * with every error logged (the versions pushed before stay usable). */
static void load_templates(orch_service *svc, const char *dir)
{
        orch_template_errors errs = {0};
        hd_error err = {0};
        size_t pushed = 0;

        if (orch_template_load(svc, dir, &pushed, &errs, &err) < 0) {
                for (size_t i = 0; i < errs.n; i++)
                        log_error("template %s: %s: %s", errs.v[i].file ? errs.v[i].file : dir,
                                  errs.v[i].path, errs.v[i].reason);
                log_error("%s", err.message);
        } else if (pushed) {
                log_info("templates: %zu new version%s from %s", pushed, pushed == 1 ? "" : "s", dir);
        }
        orch_template_errors_clear(&errs);
}

/* The first start's admin token: where it is, never what it is. */
static void bootstrap_token(orch_service *svc, const hostd_config *cfg)
{
        orch_bootstrap_result res;
        hd_error err = {0};

        if (orch_api_token_bootstrap(orch_service_store(svc), cfg->bootstrap_token_file, cfg->token_max_lifetime, &res,
                                     &err) < 0)
                log_warning("bootstrap token: %s", err.message);
        else if (res == ORCH_BOOTSTRAP_CREATED)
                log_notice("no admin token existed: a bootstrap admin token (user %s) is in %s, readable by root "
                           "only; make your own with it, then revoke it",
                           ORCH_BOOTSTRAP_USER, cfg->bootstrap_token_file);
        else if (res == ORCH_BOOTSTRAP_FILE_EXISTS)
                log_notice("no admin token exists, and %s is there already: left alone (remove it and restart "
                           "for a new bootstrap token)",
                           cfg->bootstrap_token_file);
}

static void *agent_thread(void *arg)
{
        orch_service *svc = arg;

        while (!atomic_load(&agents_stop))
                orch_agents_poll(svc, 1000, log_agent, NULL);
        orch_agents_close(svc);
        return NULL;
}

/* What workspaces may hold together (docs/quotas.md). */
static void log_capacity(orch_service *svc)
{
        orch_host_capacity c;

        orch_service_capacity(svc, &c);
        log_info("host capacity: %llu vCPUs (%u CPUs x vcpu_overcommit %g), %llu MiB of memory ((%llu MiB - "
                 "reserved_memory %llu MiB) x memory_overcommit %g)",
                 (unsigned long long)orch_host_vcpu_limit(&c), c.cpus, c.vcpu_overcommit,
                 (unsigned long long)orch_host_memory_limit(&c), (unsigned long long)c.memory_mib,
                 (unsigned long long)c.reserved_mib, c.memory_overcommit);
}

static void params_from_config(const hostd_config *cfg, orch_params *p)
{
        *p = (orch_params){
                .state_dir = cfg->state_dir,
                .run_dir = cfg->run_dir,
                .log_dir = cfg->log_dir,
                .libvirt_uri = cfg->libvirt_uri,
                .virt_type = cfg->virt_type,
                .network = cfg->network,
                .bridge = cfg->bridge,
                .agent_binary = cfg->agent_binary,
                .max_image_size = cfg->max_image_size,
                .default_vcpus = cfg->default_vcpus,
                .max_vcpus = cfg->max_vcpus,
                .default_memory_mib = cfg->default_memory / MiB,
                .max_memory_mib = cfg->max_memory / MiB,
                .default_disk_gib = cfg->default_disk / GiB,
                .max_disk_gib = cfg->max_disk / GiB,
                .agent_hello_timeout = cfg->agent_hello_timeout,
                .stop_timeout = cfg->stop_timeout,
                .default_idle_timeout = cfg->default_idle_timeout,
                .lifetime_warning = cfg->lifetime_warning,
                .idle_cpu_percent = cfg->idle_cpu_percent,
                .idle_gpu_percent = cfg->idle_gpu_percent,
                .gpu_sysfs_root = cfg->gpu_sysfs_root,
                .gpu_pci_ids = cfg->gpu_pci_ids,
                .gpu_kernel_cmdline = cfg->gpu_kernel_cmdline,
                .hugepages_min_memory_mib = cfg->hugepages_min_memory / MiB,
                .gpu_rom_bar_off = strcmp(cfg->gpu_rom_bar, "off") == 0,
                .vcpu_overcommit = cfg->vcpu_overcommit,
                .memory_overcommit = cfg->memory_overcommit,
                .reserved_memory_mib = cfg->reserved_memory / MiB,
        };
}

/* Block the signals we wait for in every thread (threads inherit the mask). */
static void block_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, set, NULL);
        signal(SIGPIPE, SIG_IGN);
}

static void log_certificate(const char *what, const hostd_config *cfg, const api_tls_info *info)
{
        log_notice("%s https://%s: certificate %s, serial %s, valid until %s", what, cfg->listen, info->subject,
                   info->serial, info->not_after);
        if (info->expired)
                log_warning("the HTTPS certificate in %s expired on %s: clients will refuse it", cfg->tls_cert,
                            info->not_after);
}

/* SIGHUP reads the HTTPS certificate and key files again (the rest of the
 * configuration is read at start only); a bad pair keeps the old one. */
static void reload(const hostd_config *cfg, api_server *api)
{
        api_tls_info info;
        hd_error err = {0};

        if (!cfg->listen) {
                log_notice("SIGHUP: nothing to reload (no HTTPS listener; the config is read at start)");
                return;
        }
        if (api_server_reload_tls(api, &info, &err) < 0) {
                log_error("SIGHUP: keeping the previous HTTPS certificate: %s", err.message);
                return;
        }
        log_certificate("SIGHUP: new certificate for", cfg, &info);
}

static int wait_for_stop(const sigset_t *set, const hostd_config *cfg, api_server *api)
{
        for (;;) {
                int sig = 0;

                if (sigwait(set, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        reload(cfg, api);
                        continue;
                }
                return sig;
        }
}

int hostd_run(const hostd_config *cfg)
{
        _cleanup_free_ char *db = hd_path_join(cfg->state_dir, "hostd.db");
        orch_params params;
        orch_service *svc;
        hostd_workers *workers;
        api_server *api;
        pthread_t agents;
        hd_error err = {0};
        sigset_t set;
        int sig, n;
        api_config acfg = {
                .socket_path = cfg->socket_path,
                .socket_group = cfg->socket_group,
                .socket_mode = cfg->socket_mode,
                .max_body = cfg->api_max_body,
                .connection_timeout = cfg->api_connection_timeout,
                .max_connections = cfg->api_max_connections,
                .max_event_streams = cfg->api_max_event_streams,
                .threads = 4,
                .version = HOSTD_VERSION,
                .header_timeout = cfg->api_header_timeout,
                .request_timeout = cfg->api_request_timeout,
                .max_header_size = cfg->api_max_header_size,
                .max_connections_per_ip = cfg->api_max_connections_per_ip,
                .auth_failures_per_minute = cfg->api_auth_failures_per_minute,
                .listen = cfg->listen,
                .tls_cert = cfg->tls_cert,
                .tls_key = cfg->tls_key,
                .tls_min_version = cfg->tls_min_version,
                .token_max_lifetime = cfg->token_max_lifetime,
                .audit_file = cfg->audit_file,
                .audit_db = db,
                .audit_retention_days = cfg->audit_retention_days,
                .log_error = log_audit,
        };
        api_tls_info tls;

        hostd_config_oidc(cfg, &acfg.oidc);
        block_signals(&set);
        params_from_config(cfg, &params);
        svc = orch_service_open(&params, &err);
        if (!svc) {
                log_error("cannot start: %s", err.message);
                return 1;
        }
        log_info("hostd %s: libvirt %s, domains of type %s, state in %s", HOSTD_VERSION, cfg->libvirt_uri,
                 orch_service_virt_type(svc), cfg->state_dir);
        log_capacity(svc);
        load_templates(svc, cfg->templates_dir);
        bootstrap_token(svc, cfg);
        n = orch_reconcile(svc, log_reconcile, NULL, &err);
        if (n < 0)
                log_warning("reconciliation failed: %s", err.message);
        else
                log_info("reconciliation: %d action%s", n, n == 1 ? "" : "s");

        workers = hostd_workers_start(cfg->workers);
        orch_service_set_executor(svc, hostd_workers_submit, workers);
        atomic_store(&agents_stop, false);
        if (pthread_create(&agents, NULL, agent_thread, svc) != 0) {
                log_error("cannot start the agent link thread");
                hostd_workers_stop(workers);
                orch_service_close(svc);
                return 1;
        }
        api = api_server_start(&acfg, svc, &err);
        if (!api) {
                log_error("cannot serve the API: %s", err.message);
                atomic_store(&agents_stop, true);
                pthread_join(agents, NULL);
                hostd_workers_stop(workers);
                orch_service_close(svc);
                return 1;
        }
        log_notice("listening on %s", cfg->socket_path);
        if (cfg->oidc_issuer)
                log_info("OIDC: tokens of %s for %s, keys from %s", cfg->oidc_issuer, cfg->oidc_audience,
                         cfg->oidc_jwks_url ? cfg->oidc_jwks_url : cfg->oidc_jwks_file);
        if (api_server_tls_info(api, &tls))
                log_certificate("listening on", cfg, &tls);
        hostd_notify("READY=1");

        sig = wait_for_stop(&set, cfg, api);
        log_notice("%s: shutting down; running workspaces keep running", strsignal(sig));
        hostd_notify("STOPPING=1");
        api_server_stop(api);
        atomic_store(&agents_stop, true);
        pthread_join(agents, NULL);
        n = (int)hostd_workers_stop(workers);
        if (n > 0)
                log_warning("%d queued job%s dropped; the next start reconciles them", n, n == 1 ? "" : "s");
        orch_service_close(svc);
        return 0;
}

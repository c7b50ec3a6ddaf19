/* oidc-provider.c — the configured identity provider: its checked settings
 * and its signing keys, cached in memory. Keys are loaded at the first token
 * (never before: no traffic to the IdP until someone presents a token),
 * reloaded when a token names a kid the cache lacks (key rotation), at most
 * once per jwks_refresh_min so that a flood of made-up kids cannot hammer
 * the IdP, and reloaded anyway once older than jwks_max_age (a removed key
 * stops working). A failed reload keeps the keys already cached. */
#include "api/oidc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct api_oidc {
        api_oidc_policy *pol;
        char *jwks_file, *jwks_url, *ca_file;
        unsigned refresh_min, max_age;
        pthread_mutex_t lock;      /* guards what follows */
        pthread_cond_t loaded;     /* a load finished */
        api_jwks *keys;            /* NULL until the first load succeeds */
        time_t loaded_at;          /* when keys were loaded */
        time_t last_try;           /* when the last load started */
        bool tried, loading;
        unsigned loads;
        char last_error[HD_ERRMSG_MAX];
};

int api_oidc_config_check(const api_oidc_config *cfg, hd_error *err)
{
        api_oidc_policy *pol;

        if (!cfg->issuer) {
                if (cfg->audience || cfg->jwks_file || cfg->jwks_url || cfg->ca_file || cfg->role_map ||
                    cfg->email_domains || cfg->user_claim || cfg->groups_claim)
                        return hd_error_set(err, HD_E_INVALID, "oidc_* keys are set but oidc_issuer is not: set "
                                                               "it to turn OIDC on");
                return 0;
        }
        if (!*cfg->issuer)
                return hd_error_set(err, HD_E_INVALID, "oidc_issuer is empty");
        if (!cfg->audience || !*cfg->audience)
                return hd_error_set(err, HD_E_INVALID, "oidc_issuer needs oidc_audience (the client id tokens "
                                                       "are issued for)");
        if (!cfg->jwks_file == !cfg->jwks_url)
                return hd_error_set(err, HD_E_INVALID, "set one of oidc_jwks_file and oidc_jwks_url");
        if (cfg->ca_file && !cfg->jwks_url)
                return hd_error_set(err, HD_E_INVALID, "oidc_ca_file is for oidc_jwks_url, which is not set");
        if (cfg->jwks_url && api_https_url_check(cfg->jwks_url, err) < 0)
                return -1;
        if (cfg->jwks_refresh_min > cfg->jwks_max_age)
                return hd_error_set(err, HD_E_INVALID, "oidc_jwks_refresh_min is above oidc_jwks_max_age");
        pol = api_oidc_policy_new(cfg, err);
        if (!pol)
                return -1;
        api_oidc_policy_free(pol);
        return 0;
}

/* Read or fetch the keys; no lock held. */
static api_jwks *load(const api_oidc *p, hd_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        api_jwks *keys;
        int r;

        if (p->jwks_file)
                r = hd_read_file(p->jwks_file, API_JWKS_MAX, &data, &len, err);
        else
                r = api_https_get(p->jwks_url, p->ca_file, API_JWKS_FETCH_TIMEOUT, API_JWKS_MAX, &data, &len, err);
        if (r < 0)
                return NULL;
        keys = api_jwks_parse(data, len, err);
        if (!keys)
                hd_error_prefix(err, "%s", p->jwks_file ? p->jwks_file : p->jwks_url);
        return keys;
}

api_oidc *api_oidc_new(const api_oidc_config *cfg, hd_error *err)
{
        api_oidc *p;
        api_jwks *keys;

        if (api_oidc_config_check(cfg, err) < 0)
                return NULL;
        if (!cfg->issuer)
                return hd_error_set(err, HD_E_INVALID, "OIDC is not configured (oidc_issuer)"), NULL;
        p = hd_malloc0(sizeof(*p));
        p->pol = api_oidc_policy_new(cfg, err);
        p->jwks_file = cfg->jwks_file ? hd_strdup(cfg->jwks_file) : NULL;
        p->jwks_url = cfg->jwks_url ? hd_strdup(cfg->jwks_url) : NULL;
        p->ca_file = cfg->ca_file ? hd_strdup(cfg->ca_file) : NULL;
        p->refresh_min = cfg->jwks_refresh_min;
        p->max_age = cfg->jwks_max_age;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->loaded, NULL);
        /* A key file is checked now, so that a typo stops hostd at start. */
        if (p->jwks_file) {
                keys = load(p, err);
                if (!keys) {
                        hd_error_prefix(err, "oidc_jwks_file");
                        api_oidc_free(p);
                        return NULL;
                }
                api_jwks_unref(keys);
        }
        return p;
}

void api_oidc_free(api_oidc *p)
{
        if (!p)
                return;
        api_oidc_policy_free(p->pol);
        api_jwks_unref(p->keys);
        free(p->jwks_file);
        free(p->jwks_url);
        free(p->ca_file);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->loaded);
        free(p);
}

unsigned api_oidc_key_loads(api_oidc *p)
{
        unsigned n;

        pthread_mutex_lock(&p->lock);
        n = p->loads;
        pthread_mutex_unlock(&p->lock);
        return n;
}

/* The keys to verify with (a reference, or NULL when none could be loaded):
 * loaded first when there are none, when they are older than max_age, or
 * when want_new (an unknown kid), unless a load started less than
 * refresh_min ago. A caller that needs new keys while a load is under way
 * waits for it; one that can use the cached keys does not. Lock held:
 * true when this caller is to load them. */
static bool claim_load(api_oidc *p, time_t now, bool want_new)
{
        for (;;) {
                bool stale = !p->keys || now - p->loaded_at >= (time_t)p->max_age;
                bool due = !p->tried || now < p->last_try || now - p->last_try >= (time_t)p->refresh_min;

                if (!want_new && !stale)
                        return false;
                if (p->loading && (want_new || !p->keys)) {
                        pthread_cond_wait(&p->loaded, &p->lock);
                        continue;
                }
                if (p->loading || !due)
                        return false;
                p->tried = p->loading = true;
                p->last_try = now;
                p->loads++;
                return true;
        }
}

static api_jwks *keys_at(api_oidc *p, time_t now, bool want_new)
{
        api_jwks *keys, *fresh;
        hd_error err = {0};

        pthread_mutex_lock(&p->lock);
        if (!claim_load(p, now, want_new)) {
                keys = api_jwks_ref(p->keys);
                pthread_mutex_unlock(&p->lock);
                return keys;
        }
        pthread_mutex_unlock(&p->lock);
        fresh = load(p, &err);

        pthread_mutex_lock(&p->lock);
        if (fresh) {
                api_jwks_unref(p->keys);
                p->keys = api_jwks_ref(fresh);
                p->loaded_at = now;
                p->last_error[0] = '\0';
        } else {
                snprintf(p->last_error, sizeof(p->last_error), "%s", err.message);
        }
        keys = fresh ? fresh : api_jwks_ref(p->keys);
        p->loading = false;
        pthread_cond_broadcast(&p->loaded);
        pthread_mutex_unlock(&p->lock);
        return keys;
}

static void last_error(api_oidc *p, char *out, size_t size)
{
        pthread_mutex_lock(&p->lock);
        snprintf(out, size, "%s", p->last_error);
        pthread_mutex_unlock(&p->lock);
}

int api_oidc_authenticate(api_oidc *p, const char *token, time_t now, api_oidc_identity *id, hd_error *err)
{
        char why[HD_ERRMSG_MAX];
        api_jwks *keys;
        api_jwt jwt;
        int r;

        /* A token that cannot be valid never causes a load. */
        memset(id, 0, sizeof(*id));
        if (api_jwt_parse(token, &jwt, err) < 0)
                return -1;
        keys = keys_at(p, now, false);
        if (keys && !api_jwks_has(keys, jwt.kid)) {
                api_jwks_unref(keys);
                keys = keys_at(p, now, true);
        }
        last_error(p, why, sizeof(why));
        if (!keys)
                r = hd_error_set(err, HD_E_IO, "cannot load the IdP's signing keys: %s", why);
        else if (!api_jwks_has(keys, jwt.kid) && why[0])
                r = hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's kid %s is not among the IdP's keys, and "
                                                            "reloading them failed: %s", jwt.kid, why);
        else
                r = api_oidc_verify_jwt(&jwt, keys, p->pol, now, id, err);
        api_jwks_unref(keys);
        api_jwt_clear(&jwt);
        return r;
}

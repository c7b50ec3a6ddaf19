/* oidc-verify.c — the verification core: a token's signature (jwks.c),
 * then its claims against the configured policy at a given time: issuer,
 * audience, expiry with a small clock skew, the user name, groups mapped to
 * roles, the email domain. No I/O and no clock of its own, so the tests
 * drive it with their own keys and time. */
#include "api/oidc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 64
#define MAX_DOMAINS 32

typedef struct role_rule {
        char group[API_NAME_MAX];
        unsigned role;
} role_rule;

struct api_oidc_policy {
        char *issuer;
        char *audience;
        char *user_claim;
        char *groups_claim;
        unsigned skew;
        role_rule rules[MAX_RULES];
        size_t n_rules;
        char domains[MAX_DOMAINS][254];
        size_t n_domains;
};

/* A group name as a token carries it; Keycloak's full path "/a/b" loses its
 * leading slash. */
static const char *group_name(const char *g)
{
        return g[0] == '/' ? g + 1 : g;
}

/* "group=role, group=role": roles by name (api_role_parse). */
static int parse_role_map(api_oidc_policy *pol, const char *map, hd_error *err)
{
        _cleanup_free_ char *copy = hd_strdup(map);
        char *save = NULL;

        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(item, '='), *group, *role;
                if (!eq)
                        return hd_error_set(err, HD_E_INVALID, "oidc_role_map: '%s' is not group=role", hd_strtrim(item));
                *eq = '\0';
                group = hd_strtrim(item);
                role = hd_strtrim(eq + 1);
                if (!api_printable(group, API_NAME_MAX - 1, true))
                        return hd_error_set(err, HD_E_INVALID, "oidc_role_map: a group name is empty or too long");
                if (pol->n_rules == MAX_RULES)
                        return hd_error_set(err, HD_E_INVALID, "oidc_role_map: more than %d entries", MAX_RULES);
                pol->rules[pol->n_rules].role = api_role_parse(role);
                if (!pol->rules[pol->n_rules].role)
                        return hd_error_set(err, HD_E_INVALID,
                                            "oidc_role_map: '%s' is not a role (admin, template-admin, user-admin, "
                                            "auditor, member)", role);
                snprintf(pol->rules[pol->n_rules++].group, API_NAME_MAX, "%s", group_name(group));
        }
        return 0;
}

static bool dns_name(const char *d)
{
        size_t n = strlen(d);

        return n > 0 && n < 254 && strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n && d[0] != '.' &&
               d[0] != '-' && d[n - 1] != '.' && !strstr(d, "..");
}

static int parse_domains(api_oidc_policy *pol, const char *list, hd_error *err)
{
        _cleanup_free_ char *copy = hd_strdup(list);
        char *save = NULL;

        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                char *d = hd_strtrim(item);
                for (char *c = d; *c; c++)
                        *c = (char)tolower((unsigned char)*c);
                if (!dns_name(d))
                        return hd_error_set(err, HD_E_INVALID, "oidc_email_domains: '%s' is not a domain name", d);
                if (pol->n_domains == MAX_DOMAINS)
                        return hd_error_set(err, HD_E_INVALID, "oidc_email_domains: more than %d domains",
                                            MAX_DOMAINS);
                snprintf(pol->domains[pol->n_domains++], sizeof(pol->domains[0]), "%s", d);
        }
        if (pol->n_domains == 0)
                return hd_error_set(err, HD_E_INVALID, "oidc_email_domains names no domain");
        return 0;
}

static int claim_name_check(const char *key, const char *name, hd_error *err)
{
        if (!api_printable(name, 128, false))
                return hd_error_set(err, HD_E_INVALID, "%s must be a claim name (a path like realm_access.roles "
                                                       "also works)", key);
        return 0;
}

api_oidc_policy *api_oidc_policy_new(const api_oidc_config *cfg, hd_error *err)
{
        api_oidc_policy *pol = hd_malloc0(sizeof(*pol));

        pol->issuer = hd_strdup(cfg->issuer ? cfg->issuer : "");
        pol->audience = hd_strdup(cfg->audience ? cfg->audience : "");
        pol->user_claim = hd_strdup(cfg->user_claim ? cfg->user_claim : "preferred_username");
        pol->groups_claim = hd_strdup(cfg->groups_claim ? cfg->groups_claim : "groups");
        pol->skew = cfg->clock_skew;
        if (claim_name_check("oidc_user_claim", pol->user_claim, err) < 0 ||
            claim_name_check("oidc_groups_claim", pol->groups_claim, err) < 0 ||
            (cfg->role_map && parse_role_map(pol, cfg->role_map, err) < 0) ||
            (cfg->email_domains && parse_domains(pol, cfg->email_domains, err) < 0)) {
                api_oidc_policy_free(pol);
                return NULL;
        }
        return pol;
}

void api_oidc_policy_free(api_oidc_policy *pol)
{
        if (!pol)
                return;
        free(pol->issuer);
        free(pol->audience);
        free(pol->user_claim);
        free(pol->groups_claim);
        free(pol);
}

/* A claim by name, or by a dotted path into nested objects
 * ("realm_access.roles") when no claim has the whole name. */
static json_t *claim(json_t *claims, const char *name)
{
        _cleanup_free_ char *path = NULL;
        char *save = NULL;
        json_t *v = json_object_get(claims, name);

        if (v || !strchr(name, '.'))
                return v;
        path = hd_strdup(name);
        v = claims;
        for (char *seg = strtok_r(path, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
                v = json_object_get(v, seg);
        return v;
}

/* A NumericDate claim; 0 absent, -1 present but not a number. */
static int time_claim(json_t *claims, const char *name, long long *t)
{
        json_t *v = json_object_get(claims, name);

        if (!v)
                return 0;
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e15)
                return -1;
        *t = (long long)json_number_value(v);
        return 1;
}

static int check_times(json_t *claims, const api_oidc_policy *pol, time_t now, api_oidc_identity *id,
                       hd_error *err)
{
        long long exp = 0, nbf = 0, iat = 0, t = (long long)now, skew = pol->skew;
        int has_exp = time_claim(claims, "exp", &exp), has_nbf = time_claim(claims, "nbf", &nbf);
        int has_iat = time_claim(claims, "iat", &iat);

        if (has_exp <= 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token has no valid exp (expiry) claim");
        if (has_nbf < 0 || has_iat < 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's nbf or iat is not a time");
        if (t > exp + skew)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token expired %lld s ago: sign in again",
                                    t - exp);
        if (has_nbf && t + skew < nbf)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token is not valid yet (nbf is %lld s ahead; "
                                                               "check the clocks)", nbf - t);
        if (has_iat && t + skew < iat)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token was issued in the future (iat is %lld s "
                                                               "ahead; check the clocks)", iat - t);
        id->expires = exp;
        return 0;
}

static int check_audience(json_t *claims, const api_oidc_policy *pol, hd_error *err)
{
        json_t *aud = json_object_get(claims, "aud"), *a;
        size_t i;

        if (json_is_string(aud) && strcmp(json_string_value(aud), pol->audience) == 0)
                return 0;
        if (json_is_array(aud))
                json_array_foreach(aud, i, a)
                        if (json_is_string(a) && strcmp(json_string_value(a), pol->audience) == 0)
                                return 0;
        return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token is not meant for this host: its aud does not "
                                                       "name %s (oidc_audience)", pol->audience);
}

/* A user name hostd can own workspaces with (the X-On-Behalf-Of rule). */
static bool user_name_ok(const char *u)
{
        size_t n = strlen(u);

        return n > 0 && n < API_NAME_MAX && isalnum((unsigned char)u[0]) &&
               strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789._-@") == n;
}

static int check_user(json_t *claims, const api_oidc_policy *pol, api_oidc_identity *id, hd_error *err)
{
        json_t *sub = json_object_get(claims, "sub"), *user = claim(claims, pol->user_claim);
        const char *u = json_string_value(user);

        if (!json_is_string(sub) || !api_printable(json_string_value(sub), API_OIDC_SUB_MAX, false))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's sub is missing or not %d printable "
                                                               "characters at most", API_OIDC_SUB_MAX);
        if (!u)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token has no %s claim (oidc_user_claim)",
                                    pol->user_claim);
        if (!user_name_ok(u))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s '%s' is not a user name (a-z, 0-9, "
                                                               ". _ - @, at most 63, starting with a letter or digit)",
                                    pol->user_claim, api_printable(u, 64, true) ? u : "(unprintable)");
        if (strcmp(u, "root") == 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the user name root is the host's own: refused "
                                                               "from a token");
        snprintf(id->user, sizeof(id->user), "%s", u);
        snprintf(id->subject, sizeof(id->subject), "%s", json_string_value(sub));
        return 0;
}

/* Groups: a list of names (one name alone is taken too); each one mapped
 * through oidc_role_map; names hostd cannot keep are skipped. */
static int check_groups(json_t *claims, const api_oidc_policy *pol, api_oidc_identity *id, hd_error *err)
{
        json_t *groups = claim(claims, pol->groups_claim), *g;
        size_t i;

        if (groups && !json_is_array(groups) && !json_is_string(groups))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's %s is not a list of names "
                                                               "(oidc_groups_claim)", pol->groups_claim);
        if (json_is_string(groups))
                groups = json_pack("[O]", groups);
        else
                json_incref(groups);
        json_array_foreach(groups, i, g) {
                const char *name = json_is_string(g) ? group_name(json_string_value(g)) : "";
                if (!api_printable(name, API_NAME_MAX - 1, true))
                        continue;
                for (size_t r = 0; r < pol->n_rules; r++)
                        if (strcmp(pol->rules[r].group, name) == 0)
                                id->roles |= pol->rules[r].role;
                if (id->n_groups < API_MAX_GROUPS)
                        snprintf(id->groups[id->n_groups++], API_NAME_MAX, "%s", name);
        }
        json_decref(groups);
        if (!id->roles)
                id->roles = API_ROLE_MEMBER;
        return 0;
}

/* With oidc_email_domains, the email's domain must be one of them, exactly
 * (case aside), and email_verified, when the token has it, true. */
static int check_email(json_t *claims, const api_oidc_policy *pol, api_oidc_identity *id, hd_error *err)
{
        const char *email = json_string_value(json_object_get(claims, "email")), *at;
        json_t *verified = json_object_get(claims, "email_verified");

        if (email && api_printable(email, sizeof(id->email) - 1, false))
                snprintf(id->email, sizeof(id->email), "%s", email);
        if (!pol->n_domains)
                return 0;
        if (!id->email[0])
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token has no email, and oidc_email_domains "
                                                               "requires one");
        at = strchr(id->email, '@');
        if (!at || at == id->email || strchr(at + 1, '@'))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's email is not an address");
        if (verified && !json_is_true(verified))
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token's email is not verified "
                                                               "(email_verified is not true)");
        for (size_t i = 0; i < pol->n_domains; i++)
                if (strcasecmp(at + 1, pol->domains[i]) == 0)
                        return 0;
        return hd_error_set(err, HD_E_UNAUTHENTICATED, "the email domain %s is not allowed here "
                                                       "(oidc_email_domains)", at + 1);
}

int api_oidc_verify_jwt(const api_jwt *jwt, const api_jwks *keys, const api_oidc_policy *pol, time_t now,
                        api_oidc_identity *id, hd_error *err)
{
        json_t *iss = json_object_get(jwt->claims, "iss");

        memset(id, 0, sizeof(*id));
        if (api_jwks_verify(keys, jwt, err) < 0)
                return -1;
        if (!json_is_string(iss) || strcmp(json_string_value(iss), pol->issuer) != 0)
                return hd_error_set(err, HD_E_UNAUTHENTICATED, "the token was not issued by %s (oidc_issuer)",
                                    pol->issuer);
        if (check_audience(jwt->claims, pol, err) < 0 || check_times(jwt->claims, pol, now, id, err) < 0 ||
            check_user(jwt->claims, pol, id, err) < 0 || check_groups(jwt->claims, pol, id, err) < 0 ||
            check_email(jwt->claims, pol, id, err) < 0) {
                memset(id, 0, sizeof(*id));
                return -1;
        }
        return 0;
}

int api_oidc_verify(const char *token, const api_jwks *keys, const api_oidc_policy *pol, time_t now,
                    api_oidc_identity *id, hd_error *err)
{
        api_jwt jwt;
        int r;

        memset(id, 0, sizeof(*id));
        if (api_jwt_parse(token, &jwt, err) < 0)
                return -1;
        r = api_oidc_verify_jwt(&jwt, keys, pol, now, id, err);
        api_jwt_clear(&jwt);
        return r;
}

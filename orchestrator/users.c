/* users.c — the backend-neutral half of users (users.h): what a valid name,
 * email, group and role look like, freeing records, and the public user
 * functions, which check their arguments and dispatch to the backend. */
#include "orchestrator/store-backend.h"

#include "common/buf.h"

#include <string.h>
#include <time.h>

#define USER_CHARS "abcdefghijklmnopqrstuvwxyz0123456789._@-"
#define GROUP_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@/:+-"
#define ROLE_CHARS "abcdefghijklmnopqrstuvwxyz-"

/* ---- freeing ------------------------------------------------------------------ */

static void free_names(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void orch_user_clear(orch_user *u)
{
        if (!u)
                return;
        free(u->name);
        free(u->email);
        free_names(u->groups, u->n_groups);
        free_names(u->roles, u->n_roles);
        free(u->created_by);
        memset(u, 0, sizeof(*u));
}

void orch_user_free(orch_user *u)
{
        orch_user_clear(u);
        free(u);
}

void orch_user_list_free(orch_user_list *l)
{
        for (size_t i = 0; l && i < l->count; i++)
                orch_user_clear(&l->items[i]);
        if (l) {
                free(l->items);
                l->items = NULL;
                l->count = 0;
        }
}

/* ---- checks ------------------------------------------------------------------- */

static bool made_of(const char *s, size_t max, const char *chars)
{
        size_t len = s ? strlen(s) : 0;

        return len >= 1 && len <= max && strspn(s, chars) == len;
}

bool orch_user_name_valid(const char *name)
{
        return made_of(name, ORCH_USER_NAME_MAX, USER_CHARS) && name[0] != '.' && name[0] != '-' &&
               name[0] != '@';
}

bool orch_user_has_role(const orch_user *u, const char *role)
{
        for (size_t i = 0; u && i < u->n_roles; i++)
                if (strcmp(u->roles[i], role) == 0)
                        return true;
        return false;
}

static int check_email(const char *email, hd_error *err)
{
        if (!email)
                return 0;
        if (strlen(email) > ORCH_EMAIL_MAX || !strchr(email, '@') || email[0] == '@')
                return hd_error_set(err, HD_E_INVALID, "email '%.64s' is not an address like name@example.org",
                                    email);
        for (const unsigned char *c = (const unsigned char *)email; *c; c++)
                if (*c <= ' ' || *c == 0x7f || *c == '"' || *c == '\\' || *c == '<' || *c == '>')
                        return hd_error_set(err, HD_E_INVALID,
                                            "email must not contain spaces, control characters, quotes or <>");
        return 0;
}

/* Names of a list: valid, not repeated, at most ORCH_USER_LIST_MAX. */
static int check_names(const char *what, const char *const *v, size_t n, size_t max, const char *chars,
                       const char *allowed, hd_error *err)
{
        if (n > ORCH_USER_LIST_MAX)
                return hd_error_set(err, HD_E_INVALID, "at most %d %s per user", ORCH_USER_LIST_MAX, what);
        for (size_t i = 0; i < n; i++) {
                if (!made_of(v[i], max, chars))
                        return hd_error_set(err, HD_E_INVALID, "%s '%.64s' is not valid: 1 to %zu of %s", what,
                                            v[i] ? v[i] : "", max, allowed);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(v[k], v[i]) == 0)
                                return hd_error_set(err, HD_E_INVALID, "%s '%s' is given twice", what, v[i]);
        }
        return 0;
}

static int check_groups(const char *const *v, size_t n, hd_error *err)
{
        return check_names("groups", v, n, ORCH_GROUP_NAME_MAX, GROUP_CHARS, "letters, digits, . _ @ / : + -",
                           err);
}

static int check_roles(const char *const *v, size_t n, hd_error *err)
{
        return check_names("roles", v, n, ORCH_ROLE_NAME_MAX, ROLE_CHARS, "a-z and -", err);
}

static int check_name(const char *name, hd_error *err)
{
        if (!orch_user_name_valid(name))
                return hd_error_set(err, HD_E_INVALID,
                                    "user name '%.64s' is not valid: 1 to %d of a-z, 0-9, . _ @ -, "
                                    "not starting with . - or @",
                                    name ? name : "", ORCH_USER_NAME_MAX);
        return 0;
}

int orch_user_check(const orch_user *u, hd_error *err)
{
        if (check_name(u->name, err) < 0 || check_email(u->email, err) < 0 ||
            check_groups((const char *const *)u->groups, u->n_groups, err) < 0 ||
            check_roles((const char *const *)u->roles, u->n_roles, err) < 0)
                return -1;
        return 0;
}

/* ---- public functions ---------------------------------------------------------- */

int orch_store_user_create(orch_store *st, const orch_user *u, hd_error *err)
{
        orch_user row = *u;

        if (orch_user_check(u, err) < 0)
                return -1;
        if (!row.created_at)
                row.created_at = (int64_t)time(NULL);
        row.updated_at = row.created_at;
        return st->ops->user_insert(st, &row, err);
}

orch_user *orch_store_user_get(orch_store *st, const char *name, hd_error *err)
{
        orch_user *u;

        if (!orch_user_name_valid(name)) {
                hd_error_set(err, HD_E_NOT_FOUND, "no user '%.64s'", name ? name : "");
                return NULL;
        }
        u = hd_malloc0(sizeof(*u));
        if (st->ops->user_get(st, name, u, err) < 0) {
                orch_user_free(u);
                return NULL;
        }
        return u;
}

int orch_store_user_list(orch_store *st, orch_user_list *out, hd_error *err)
{
        *out = (orch_user_list){0};
        if (st->ops->user_list(st, out, err) < 0) {
                orch_user_list_free(out);
                return -1;
        }
        return 0;
}

int orch_store_user_update(orch_store *st, const char *name, const orch_user_update *u, hd_error *err)
{
        if (!orch_user_name_valid(name))
                return hd_error_set(err, HD_E_NOT_FOUND, "no user '%.64s'", name ? name : "");
        if ((u->email && *u->email && check_email(u->email, err) < 0) ||
            (u->set_groups && check_groups(u->groups, u->n_groups, err) < 0) ||
            (u->set_roles && check_roles(u->roles, u->n_roles, err) < 0))
                return -1;
        if (u->disabled < -1 || u->disabled > 1)
                return hd_error_set(err, HD_E_INVALID, "disabled must be -1, 0 or 1");
        return st->ops->user_update(st, name, u, (int64_t)time(NULL), err);
}

int orch_store_user_delete(orch_store *st, const char *name, hd_error *err)
{
        if (!orch_user_name_valid(name))
                return hd_error_set(err, HD_E_NOT_FOUND, "no user '%.64s'", name ? name : "");
        return st->ops->user_delete(st, name, err);
}

orch_user *orch_store_user_upsert_login(orch_store *st, const char *name, const char *email,
                                        const char *const *groups, size_t n_groups,
                                        const char *const *roles_if_new, size_t n_roles, hd_error *err)
{
        orch_user login = {
                .name = (char *)name,
                .email = (char *)email,
                .groups = (char **)groups,
                .n_groups = n_groups,
                .roles = (char **)roles_if_new,
                .n_roles = n_roles,
                .created_by = (char *)"oidc",
        };
        orch_user *out;

        if (orch_user_check(&login, err) < 0)
                return NULL;
        out = hd_malloc0(sizeof(*out));
        if (st->ops->user_upsert_login(st, &login, (int64_t)time(NULL), out, err) < 0) {
                orch_user_free(out);
                return NULL;
        }
        return out;
}

/* test-store-users.c — users and API tokens in the store: records round
 * trip, checks refuse bad names, updates and disable, delete takes the
 * user's tokens along, the OIDC sign-in upsert, tokens live and die
 * (revoked, expired, name reuse), last-used is written at most once a
 * minute, the bootstrap token, and the token's plaintext never reaches
 * the database files. */
#include "common/common.h"
#include "orchestrator/users.h"
#include "tests/testlib.h"

#include <sys/stat.h>
#include <time.h>

static char dir[] = "/tmp/hostd-test-store-users-XXXXXX";

static void test_users(orch_store *st)
{
        char *groups[] = {(char *)"ml", (char *)"Eng/GPU"};
        char *roles[] = {(char *)"member", (char *)"auditor"};
        orch_user alice = {.name = (char *)"alice", .email = (char *)"alice@example.org", .groups = groups,
                           .n_groups = 2, .roles = roles, .n_roles = 2, .created_by = (char *)"root"};
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        orch_user_list l = {0};
        hd_error err = {0};

        CHECK(orch_store_user_create(st, &alice, &err) == 0, "a user is created");
        CHECK(orch_store_user_create(st, &alice, &err) < 0 && err.code == HD_E_CONFLICT,
              "a second user of the same name is a conflict");
        u = orch_store_user_get(st, "alice", &err);
        CHECK(u && strcmp(u->email, "alice@example.org") == 0 && u->n_groups == 2 &&
                      strcmp(u->groups[1], "Eng/GPU") == 0 && u->n_roles == 2 && orch_user_has_role(u, "auditor") &&
                      !orch_user_has_role(u, "admin") && u->created_at > 0 && u->disabled_at == 0 &&
                      strcmp(u->created_by, "root") == 0,
              "the user reads back with email, groups, roles and creation time");
        CHECK(!orch_store_user_get(st, "bob", &err) && err.code == HD_E_NOT_FOUND, "an unknown user is not found");

        static const char *const bad_names[] = {"", "Alice", "a b", "-x", ".x", "@x", "x/y", "x:y",
                                                "0123456789012345678901234567890123456789012345678901234567890123"};
        bool all_refused = true;
        for (size_t i = 0; i < HD_ARRAY_SIZE(bad_names); i++) {
                orch_user b = {.name = (char *)bad_names[i]};
                all_refused &= orch_store_user_create(st, &b, &err) < 0 && err.code == HD_E_INVALID;
        }
        CHECK(all_refused, "user names outside [a-z0-9._@-] (or too long, or starting with . - @) are refused");
        char *bad_role[] = {(char *)"Admin"};
        orch_user br = {.name = (char *)"carol", .roles = bad_role, .n_roles = 1};
        CHECK(orch_store_user_create(st, &br, &err) < 0 && err.code == HD_E_INVALID && strstr(err.message, "Admin"),
              "a role name with capitals is refused, and named");
        char *twice[] = {(char *)"ml", (char *)"ml"};
        orch_user bg = {.name = (char *)"carol", .groups = twice, .n_groups = 2};
        CHECK(orch_store_user_create(st, &bg, &err) < 0 && strstr(err.message, "twice"),
              "a group given twice is refused");
        orch_user be = {.name = (char *)"carol", .email = (char *)"carol example.org"};
        CHECK(orch_store_user_create(st, &be, &err) < 0 && strstr(err.message, "email"),
              "an email that is no address is refused");

        const char *new_roles[] = {"member"};
        orch_user_update up = {.email = "", .set_roles = true, .roles = new_roles, .n_roles = 1, .disabled = 1};
        CHECK(orch_store_user_update(st, "alice", &up, &err) == 0, "a user is updated");
        orch_user_free(u);
        u = orch_store_user_get(st, "alice", &err);
        CHECK(u && !u->email && u->n_roles == 1 && u->n_groups == 2 && u->disabled_at > 0,
              "an update clears the email, replaces the roles, keeps the groups and disables");
        up = (orch_user_update){.disabled = 0};
        CHECK(orch_store_user_update(st, "alice", &up, &err) == 0, "a user is enabled again");
        orch_user_free(u);
        u = orch_store_user_get(st, "alice", &err);
        CHECK(u && u->disabled_at == 0 && u->n_roles == 1, "enabled again, the rest unchanged");
        CHECK(orch_store_user_update(st, "nobody", &up, &err) < 0 && err.code == HD_E_NOT_FOUND,
              "updating an unknown user is not found");

        orch_user bob = {.name = (char *)"bob"};
        CHECK(orch_store_user_create(st, &bob, &err) == 0 && orch_store_user_list(st, &l, &err) == 0 &&
                      l.count == 2 && strcmp(l.items[0].name, "alice") == 0 && strcmp(l.items[1].name, "bob") == 0 &&
                      l.items[1].n_roles == 0,
              "users list by name; a user may have no role");
        orch_user_list_free(&l);
}

static void test_upsert_login(orch_store *st)
{
        const char *groups[] = {"ml"};
        const char *groups2[] = {"ml", "gpu"};
        const char *roles[] = {"member"};
        const char *admin_role[] = {"admin"};
        _cleanup_(orch_user_freep) orch_user *u = NULL;
        hd_error err = {0};

        u = orch_store_user_upsert_login(st, "dave@example.org", "dave@example.org", groups, 1, roles, 1, &err);
        CHECK(u && orch_user_has_role(u, "member") && u->n_groups == 1 && u->last_login_at > 0 &&
                      strcmp(u->created_by, "oidc") == 0,
              "a first sign-in creates the user with the new-user roles");
        orch_user_free(u);
        orch_user_update up = {.disabled = 1};
        orch_store_user_update(st, "dave@example.org", &up, &err);
        u = orch_store_user_upsert_login(st, "dave@example.org", "d@example.org", groups2, 2, admin_role, 1, &err);
        CHECK(u && !orch_user_has_role(u, "admin") && orch_user_has_role(u, "member") && u->n_groups == 2 &&
                      strcmp(u->email, "d@example.org") == 0 && u->disabled_at > 0,
              "a later sign-in takes the provider's email and groups, keeps roles and the disabled mark");
        orch_user_free(u);
        u = orch_store_user_upsert_login(st, "Dave", NULL, NULL, 0, roles, 1, &err);
        CHECK(!u && err.code == HD_E_INVALID, "a sign-in with an invalid user name is refused");
}

static orch_api_token *make_token(orch_store *st, const char *name, const char *owner, int64_t expires_at,
                                  char secret[ORCH_TOKEN_LEN + 1], hd_error *err)
{
        orch_api_token_spec spec = {.name = name, .owner = owner, .created_by = "root", .expires_at = expires_at};

        return orch_api_token_create(st, &spec, secret, err);
}

/* Whether the file at dir/name holds needle anywhere. */
static bool file_holds(const char *name, const char *needle)
{
        _cleanup_free_ char *path = hd_path_join(dir, name), *data = NULL;
        size_t len = 0, n = strlen(needle);

        if (hd_read_file(path, 64 << 20, &data, &len, NULL) < 0)
                return false;
        for (size_t i = 0; i + n <= len; i++)
                if (memcmp(data + i, needle, n) == 0)
                        return true;
        return false;
}

static void test_tokens(orch_store *st)
{
        char secret[ORCH_TOKEN_LEN + 1], secret2[ORCH_TOKEN_LEN + 1], hash[65];
        int64_t now = (int64_t)time(NULL);
        _cleanup_(orch_api_token_freep) orch_api_token *t = NULL, *c = NULL, *t2 = NULL;
        orch_api_token_list l = {0};
        hd_error err = {0};

        t = make_token(st, "laptop", "bob", now + 3600, secret, &err);
        CHECK(t && strncmp(t->id, "tok-", 4) == 0 && strlen(t->id) == ORCH_TOKEN_ID_LEN && t->expires_at == now + 3600 &&
                      !t->revoked_at && !t->last_used_at && strcmp(t->owner, "bob") == 0 &&
                      strncmp(secret, "hdt_", 4) == 0,
              "a token is made for a user, its secret handed back once");
        if (!t)
                return;
        orch_api_token_hash(secret, hash);
        CHECK(!file_holds("hostd.db", secret) && !file_holds("hostd.db-wal", secret),
              "the token's plaintext is in neither the database nor its WAL");
        CHECK(file_holds("hostd.db", hash) || file_holds("hostd.db-wal", hash),
              "its SHA-256 is (the search above looks in the right files)");

        c = orch_api_token_check(st, secret, now, &err);
        CHECK(c && strcmp(c->id, t->id) == 0 && c->last_used_at == now, "the token checks, and its use is recorded");
        orch_api_token_free(c);
        c = orch_api_token_check(st, secret, now + 30, &err);
        orch_api_token_free(c);
        c = orch_store_token_get(st, t->id, &err);
        CHECK(c && c->last_used_at == now, "a second use within a minute writes nothing");
        orch_api_token_free(c);
        c = orch_api_token_check(st, secret, now + 61, &err);
        orch_api_token_free(c);
        c = orch_store_token_get(st, t->id, &err);
        CHECK(c && c->last_used_at == now + 61, "a use a minute later is recorded");
        orch_api_token_free(c);
        c = orch_api_token_check(st, secret, now + 3600, &err);
        CHECK(!c && err.code == HD_E_UNAUTHENTICATED && strstr(err.message, "expired") &&
                      strstr(err.message, "laptop"),
              "at its expiry time the token is refused as expired, by name");

        t2 = make_token(st, "laptop", "bob", now + 60, secret2, &err);
        CHECK(!t2 && err.code == HD_E_CONFLICT, "a second live token of one user with the same name is a conflict");
        t2 = make_token(st, "ci", "nobody", now + 60, secret2, &err);
        CHECK(!t2 && err.code == HD_E_NOT_FOUND, "a token for an unknown user is refused");
        t2 = make_token(st, "ci", "bob", now - 1, secret2, &err);
        CHECK(!t2 && err.code == HD_E_INVALID, "a token that expires in the past is refused");
        orch_api_token_spec scoped = {.name = "ci", .owner = "bob", .expires_at = now + 60, .read_only = true,
                                      .workspace = "ws-0123456789abcdef"};
        t2 = orch_api_token_create(st, &scoped, secret2, &err);
        CHECK(t2 && t2->read_only && t2->workspace && strcmp(t2->workspace, "ws-0123456789abcdef") == 0,
              "a token keeps its scopes: read-only and one workspace");
        scoped.name = "ci2";
        scoped.workspace = "dev";
        CHECK(!orch_api_token_create(st, &scoped, secret2, &err) && err.code == HD_E_INVALID,
              "a workspace scope must be a workspace id (the API resolves names)");

        CHECK(orch_store_token_revoke(st, t->id, &err) == 0, "a token is revoked");
        c = orch_api_token_check(st, secret, now, &err);
        CHECK(!c && err.code == HD_E_UNAUTHENTICATED && strstr(err.message, "revoked"), "a revoked token is refused");
        CHECK(orch_store_token_revoke(st, t->id, &err) < 0 && err.code == HD_E_CONFLICT,
              "revoking it twice is a conflict");
        CHECK(orch_store_token_revoke(st, "tok-0000000000000000", &err) < 0 && err.code == HD_E_NOT_FOUND,
              "revoking an unknown token is not found");
        orch_api_token_free(t2);
        t2 = make_token(st, "laptop", "bob", now + 60, secret2, &err);
        CHECK(t2 != NULL, "the name of a revoked token may be used again");

        secret[10] = secret[10] == 'A' ? 'B' : 'A';
        c = orch_api_token_check(st, secret, now, &err);
        CHECK(!c && err.code == HD_E_UNAUTHENTICATED && strstr(err.message, "unknown"),
              "a well-formed token of the wrong value is unknown");
        c = orch_api_token_check(st, "hdt_short", now, &err);
        CHECK(!c && err.code == HD_E_UNAUTHENTICATED && strstr(err.message, "malformed"), "a short token is malformed");

        CHECK(orch_store_token_list(st, "bob", &l, &err) == 0 && l.count == 3, "bob's tokens list, revoked ones too");
        orch_api_token_list_free(&l);
        CHECK(orch_store_token_list(st, "alice", &l, &err) == 0 && l.count == 0, "alice has none");
        orch_api_token_list_free(&l);

        CHECK(orch_store_user_delete(st, "bob", &err) == 0, "a user is deleted");
        c = orch_api_token_check(st, secret2, now, &err);
        CHECK(!c && err.code == HD_E_UNAUTHENTICATED, "the deleted user's tokens are gone with it");
        CHECK(orch_store_token_list(st, NULL, &l, &err) == 0 && l.count == 0, "no token is left");
        orch_api_token_list_free(&l);
        CHECK(orch_store_user_delete(st, "bob", &err) < 0 && err.code == HD_E_NOT_FOUND,
              "deleting it twice is not found");
}

static void test_bootstrap(orch_store *st)
{
        _cleanup_free_ char *path = hd_path_join(dir, "bootstrap-token"), *text = NULL;
        _cleanup_(orch_user_freep) orch_user *admin = NULL;
        orch_api_token *t = NULL;
        orch_bootstrap_result res;
        struct stat sb;
        hd_error err = {0};

        CHECK(orch_api_token_bootstrap(st, path, 3600, &res, &err) == 0 && res == ORCH_BOOTSTRAP_CREATED,
              "with no admin token, a bootstrap token is made");
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600, "its file is mode 0600");
        CHECK(hd_read_file(path, 4096, &text, NULL, &err) == 0 && strlen(text) == ORCH_TOKEN_LEN + 1,
              "the file holds the token and a newline");
        if (text)
                text[ORCH_TOKEN_LEN] = '\0';
        t = text ? orch_api_token_check(st, text, 0, &err) : NULL;
        CHECK(t && strcmp(t->owner, "admin") == 0 && strcmp(t->name, "bootstrap") == 0,
              "it is a live token of user admin");
        admin = orch_store_user_get(st, "admin", &err);
        CHECK(admin && orch_user_has_role(admin, "admin"), "user admin exists with role admin");
        CHECK(orch_api_token_bootstrap(st, path, 3600, &res, &err) == 0 && res == ORCH_BOOTSTRAP_NOT_NEEDED,
              "the next start makes none: an admin token exists");
        if (t)
                orch_store_token_revoke(st, t->id, &err);
        orch_api_token_free(t);
        CHECK(orch_api_token_bootstrap(st, path, 3600, &res, &err) == 0 && res == ORCH_BOOTSTRAP_FILE_EXISTS,
              "with the token revoked and the file still there, the file is left alone");
        unlink(path);
        orch_user_update up = {.disabled = 1};
        orch_store_user_update(st, "admin", &up, &err);
        CHECK(orch_api_token_bootstrap(st, path, 3600, &res, &err) < 0 && err.code == HD_E_CONFLICT &&
                      strstr(err.message, "disabled") && access(path, F_OK) < 0,
              "a disabled user admin gets no bootstrap token, and no file is made");
        up.disabled = 0;
        orch_store_user_update(st, "admin", &up, &err);
        CHECK(orch_api_token_bootstrap(st, path, 3600, &res, &err) == 0 && res == ORCH_BOOTSTRAP_CREATED,
              "with the file removed, the next start makes a new one");
}

int main(void)
{
        _cleanup_free_ char *db = NULL;
        orch_store *st;
        hd_error err = {0};

        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        db = hd_path_join(dir, "hostd.db");
        st = orch_store_open(db, &err);
        CHECK(st != NULL, "the store opens and migrates");
        if (!st)
                return tl_done();
        test_users(st);
        test_upsert_login(st);
        test_tokens(st);
        test_bootstrap(st);
        orch_store_close(st);
        st = orch_store_open(db, &err);
        orch_user_list l = {0};
        CHECK(st && orch_store_user_list(st, &l, &err) == 0 && l.count == 3, "users survive a reopen");
        orch_user_list_free(&l);
        orch_store_close(st);
        hd_run((const char *const[]){"rm", "-rf", dir, NULL}, NULL, NULL);
        return tl_done();
}

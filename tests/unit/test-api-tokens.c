/* test-api-tokens.c — API tokens without a server: their generation (prefix,
 * length, alphabet, no repeats), hashing (SHA-256 of the whole token),
 * the shape check and its messages, constant-time hash comparison, and what
 * a token's scopes allow in api/authz.c (read-only, one workspace). Expiry,
 * revocation and the store's part are in test-store-users.c. */
#include "api/internal.h"
#include "orchestrator/users.h"
#include "tests/testlib.h"

#define N_TOKENS 2000
#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static int by_string(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_generate(void)
{
        static char tokens[N_TOKENS][ORCH_TOKEN_LEN + 1];
        char *sorted[N_TOKENS], hash[65], again[65];
        bool shapes = true, hashes = true, repeats = false;
        size_t counts[64] = {0};
        hd_error err = {0};

        for (size_t i = 0; i < N_TOKENS; i++) {
                shapes &= orch_api_token_generate(tokens[i], hash, &err) == 0 && strlen(tokens[i]) == ORCH_TOKEN_LEN &&
                          strncmp(tokens[i], "hdt_", 4) == 0 && strspn(tokens[i] + 4, B64URL) == 43 &&
                          orch_api_token_parse(tokens[i], &err) == 0;
                orch_api_token_hash(tokens[i], again);
                hashes &= strlen(hash) == 64 && strcmp(hash, again) == 0;
                for (size_t k = 4; k < ORCH_TOKEN_LEN - 1; k++)
                        counts[strchr(B64URL, tokens[i][k]) - B64URL]++;
                sorted[i] = tokens[i];
        }
        CHECK(shapes, "2000 tokens: each hdt_ and 43 base64url characters, each passes the shape check");
        CHECK(hashes, "each comes with its SHA-256 in 64 hex digits, the same as hashing it again");
        qsort(sorted, N_TOKENS, sizeof(char *), by_string);
        for (size_t i = 1; i < N_TOKENS; i++)
                repeats |= strcmp(sorted[i - 1], sorted[i]) == 0;
        CHECK(!repeats, "no two of them are the same");
        /* 42 full characters of 2000 tokens: 84000 draws from 64, about 1312 each. */
        bool even = true;
        for (size_t c = 0; c < 64; c++)
                even &= counts[c] > 1000 && counts[c] < 1650;
        CHECK(even, "every base64url character turns up about as often as the others (the bits are random)");
}

static void test_hash_and_shape(void)
{
        char hash[65];
        hd_error err = {0};

        orch_api_token_hash("hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", hash);
        CHECK_STR(hash, "27113d057ac7e632c3c6d9387aebe488fd14fb7127495de15220c6566404b861",
                  "a token's hash is the SHA-256 of the whole token, prefix included");
        CHECK(orch_api_token_hash_equal(hash, "27113d057ac7e632c3c6d9387aebe488fd14fb7127495de15220c6566404b861"),
              "equal hashes compare equal");
        CHECK(!orch_api_token_hash_equal(hash, "27113d057ac7e632c3c6d9387aebe488fd14fb7127495de15220c6566404b862"),
              "hashes differing in the last digit do not");
        CHECK(!orch_api_token_hash_equal(hash, "27113d") && !orch_api_token_hash_equal(hash, NULL),
              "a short or missing hash never matches");

        CHECK(orch_api_token_parse("ghp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &err) < 0 &&
                      err.code == HD_E_UNAUTHENTICATED && strstr(err.message, "starts with 'hdt_'"),
              "another prefix is refused, saying what an hostd token starts with");
        CHECK(orch_api_token_parse("hdt_AAAA", &err) < 0 && strstr(err.message, "8 characters, not 47"),
              "a cut token is refused, with its length and the right one");
        CHECK(orch_api_token_parse("hdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &err) < 0,
              "one character too many is refused");
        CHECK(orch_api_token_parse("hdt_AAAAAAAAAAAAAAAAAAAAA+AAAAAAAAAAAAAAAAAAAAA", &err) < 0 &&
                      strstr(err.message, "letters, digits"),
              "standard base64's + is refused (tokens are base64url)");
        CHECK(orch_api_token_parse("", &err) < 0 && orch_api_token_parse(NULL, &err) < 0,
              "an empty or missing token is refused");
}

/* A request as api_authorize sees it: a method, a path, maybe a {ref}. */
static api_request request(const char *method, const char *ref, unsigned roles)
{
        api_request r = {.method = method, .path = "/v1/x"};

        r.params[0] = ref;
        r.caller.authenticated = true;
        r.caller.roles = roles;
        snprintf(r.caller.user, sizeof(r.caller.user), "bob");
        return r;
}

static void test_scopes(void)
{
        api_request r;
        hd_error err = {0};

        r = request("GET", NULL, API_ROLE_MEMBER);
        r.caller.scope_read_only = true;
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_READ, &err) == 0, "a read-only token reads");
        r.method = "POST";
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_WRITE, &err) < 0 && err.code == HD_E_FORBIDDEN &&
                      strstr(err.message, "read-only"),
              "a read-only token does not write: 403 naming the scope");
        r.method = "DELETE";
        CHECK(api_authorize(&r, API_PERM_SIGNED_IN, &err) < 0 && err.code == HD_E_FORBIDDEN,
              "not even its own things (DELETE)");

        r = request("GET", NULL, API_ROLE_ADMIN);
        snprintf(r.caller.scope_workspace, sizeof(r.caller.scope_workspace), "ws-0123456789abcdef");
        CHECK(api_authorize(&r, API_PERM_CATALOG_READ, &err) < 0 && err.code == HD_E_FORBIDDEN &&
                      strstr(err.message, "ws-0123456789abcdef"),
              "a workspace-scoped token of an admin cannot read the catalog (403 naming the workspace)");
        CHECK(api_authorize(&r, API_PERM_USER_READ, &err) < 0, "nor users");
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_READ, &err) == 0, "it may use the workspace routes");
        r = request("POST", NULL, API_ROLE_ADMIN);
        snprintf(r.caller.scope_workspace, sizeof(r.caller.scope_workspace), "ws-0123456789abcdef");
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_WRITE, &err) < 0 && strstr(err.message, "not to make others"),
              "but cannot make a workspace");
        r.params[0] = "dev";
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_WRITE, &err) == 0, "and may act on one named in the path");
        CHECK(api_caller_sees(&r, "alice", "ws-0123456789abcdef", "dev", true),
              "it sees its workspace (the admin's roles let it act on alice's)");
        CHECK(!api_caller_sees(&r, "bob", "ws-fedcba9876543210", "other", false),
              "and no other, not even one of its own user's");

        r = request("GET", NULL, API_ROLE_MEMBER);
        r.caller.authenticated = false;
        CHECK(api_authorize(&r, API_PERM_WORKSPACE_READ, &err) < 0 && err.code == HD_E_UNAUTHENTICATED,
              "no credentials: 401");
        CHECK(api_authorize(&r, API_PERM_PUBLIC, &err) == 0, "except for public routes");
        r = request("GET", NULL, 0);
        CHECK(api_authorize(&r, API_PERM_SIGNED_IN, &err) < 0 && err.code == HD_E_FORBIDDEN,
              "a user with no role may do nothing but public routes");
}

int main(void)
{
        test_generate();
        test_hash_and_shape();
        test_scopes();
        return tl_done();
}

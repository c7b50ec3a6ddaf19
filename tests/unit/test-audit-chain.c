/* test-audit-chain.c — the audit log's hash chain (api/audit-chain.c): its
 * SHA-256 against the NIST vectors and OpenSSL, sealing a record into its
 * canonical body and line, and the verifier naming the first bad record of
 * a log that was edited, cut, reordered, rewritten, truncated, or that
 * starts after an anchor. */
#include "api/audit-chain.h"
#include "tests/testlib.h"

#include <openssl/sha.h>

#define N 6

static char *lines[N];             /* records 1..N as lines, without '\n' */
static char hashes[N][API_AUDIT_HASH_LEN + 1];

static void test_sha256(void)
{
        static const struct {
                const char *in, *hex;
        } nist[] = {
                {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        };
        unsigned char data[300], md[32], ref[32];
        char hex[API_AUDIT_HASH_LEN + 1];
        bool same = true;
        api_sha256 c;

        for (size_t i = 0; i < HD_ARRAY_SIZE(nist); i++) {
                api_sha256_hex(nist[i].in, strlen(nist[i].in), hex);
                CHECK_STR(hex, nist[i].hex, "SHA-256 gives the NIST test vector");
        }
        api_sha256_init(&c);
        memset(data, 'a', 1000 < sizeof(data) ? 1000 : sizeof(data));
        for (int i = 0; i < 10000; i++)
                api_sha256_update(&c, data, 100);
        api_sha256_final(&c, md);
        CHECK(memcmp(md, "\xcd\xc7\x6e\x5c\x99\x14\xfb\x92\x81\xa1\xc7\xe2\x84\xd7\x3e\x67\xf1\x80\x9a\x48\xa4\x97"
                         "\x20\x0e\x04\x6d\x39\xcc\xc7\x11\x2c\xd0", 32) == 0,
              "SHA-256 of a million 'a' fed in pieces gives the NIST vector");
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (unsigned char)(i * 131 + 7);
        for (size_t len = 0; len <= sizeof(data); len++) {
                api_sha256_init(&c);
                api_sha256_update(&c, data, len / 3);
                api_sha256_update(&c, data + len / 3, len - len / 3);
                api_sha256_final(&c, md);
                SHA256(data, len, ref);
                same &= memcmp(md, ref, 32) == 0;
        }
        CHECK(same, "SHA-256 agrees with OpenSSL for every length from 0 to 300 bytes, fed in two pieces");
}

/* Records 1..N as hostd seals them; record 3 has non-ASCII and control text. */
static void make_log(void)
{
        const char *prev = API_AUDIT_GENESIS;

        for (int i = 0; i < N; i++) {
                json_t *rec = json_pack("{s:s,s:{s:s},s:i,s:s}", "action", "POST /v1/workspaces", "actor", "user",
                                        "alice", "outcome", 200 + i, "user_agent",
                                        i == 2 ? "caf\xc3\xa9 \xe2\x80\xa8 \x01 \"q\" /" : "wsctl");
                char *body = api_audit_seal(rec, i + 1, prev, hashes[i]);
                char *line = api_audit_line(body, hashes[i]);

                line[strlen(line) - 1] = '\0';
                lines[i] = line;
                prev = hashes[i];
                free(body);
                json_decref(rec);
        }
}

/* Verify lines (NULL-terminated) from genesis or an anchor. */
static api_audit_verifier walk(char *const *ls, int64_t anchor_seq, const char *anchor_hash)
{
        api_audit_verifier v;

        api_audit_verify_start(&v, anchor_seq, anchor_hash);
        for (size_t i = 0; ls[i]; i++)
                api_audit_verify_line(&v, ls[i], strlen(ls[i]));
        return v;
}

static void test_seal_and_line(void)
{
        _cleanup_free_ char *body = NULL;
        char hash[API_AUDIT_HASH_LEN + 1], again[API_AUDIT_HASH_LEN + 1];
        json_t *rec = json_pack("{s:s,s:i}", "zeta", "last", "alpha", 1);
        char *b = api_audit_seal(rec, 7, API_AUDIT_GENESIS, hash);

        CHECK_STR(b, "{\"alpha\":1,\"prev_hash\":\"" API_AUDIT_GENESIS "\",\"seq\":7,\"zeta\":\"last\"}",
                  "a body is compact JSON with sorted keys, carrying seq and prev_hash");
        api_sha256_hex(b, strlen(b), again);
        CHECK_STR(hash, again, "a record's hash is the SHA-256 of its body");
        CHECK(strncmp(lines[0], "{\"action\"", 9) == 0 &&
                      strstr(lines[0], ",\"hash\":\"") == lines[0] + strlen(lines[0]) - API_AUDIT_HASH_SUFFIX_LEN,
              "a line is its body with the hash as the last member");
        CHECK(api_audit_split_line(lines[1], strlen(lines[1]), &body, hash) == 0 && strcmp(hash, hashes[1]) == 0 &&
                      body[strlen(body) - 1] == '}' && !strstr(body, "\"hash\""),
              "cutting the hash off a line gives back the body and the hash");
        CHECK(strspn(lines[2], " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") ==
                      strlen(lines[2]),
              "a line is printable ASCII whatever its strings hold");
        json_decref(rec);
        free(b);
}

static void test_verify_lines(void)
{
        char *good[N + 1] = {0}, *cut[N] = {0}, *swapped[N + 1] = {0}, *from3[N] = {0};
        _cleanup_free_ char *edited = NULL, *truncated = NULL, *rewritten = NULL, *rbody = NULL;
        char rhash[API_AUDIT_HASH_LEN + 1];
        api_audit_verifier v;
        size_t k = 0;

        memcpy(good, lines, sizeof(lines));
        v = walk(good, 0, NULL);
        CHECK(!v.bad && v.count == N && v.first_seq == 1 && v.last_seq == N && strcmp(v.prev, hashes[N - 1]) == 0,
              "an untouched log verifies from genesis and ends at its last hash");

        /* An edit: record 3's outcome changed, its hash left alone. */
        edited = hd_strdup(lines[2]);
        memcpy(strstr(edited, "\"outcome\":202"), "\"outcome\":201", 13);
        good[2] = edited;
        v = walk(good, 0, NULL);
        CHECK(v.bad && v.bad_seq == 3 && strstr(v.why, "hash mismatch") && v.count == 2,
              "an edited record is named, as a hash mismatch");

        /* A deletion: record 3 gone. */
        for (int i = 0; i < N; i++)
                if (i != 2)
                        cut[k++] = lines[i];
        v = walk(cut, 0, NULL);
        CHECK(v.bad && v.bad_seq == 4 && strstr(v.why, "missing predecessor") && strstr(v.why, "record 3"),
              "a deleted record makes the next one fail as a missing predecessor, naming the one missing");

        /* A reordering: records 3 and 4 swapped. */
        memcpy(swapped, lines, sizeof(lines));
        swapped[2] = lines[3];
        swapped[3] = lines[2];
        v = walk(swapped, 0, NULL);
        CHECK(v.bad && v.bad_seq == 4 && strstr(v.why, "missing predecessor"),
              "swapped records are named where the order breaks");

        /* A rewrite: record 3 changed and re-hashed; its successor no longer chains. */
        {
                json_t *rec = NULL;

                api_audit_split_line(lines[2], strlen(lines[2]), &rbody, rhash);
                rec = json_loads(rbody, 0, NULL);
                json_object_set_new(rec, "outcome", json_integer(500));
                free(rbody);
                rbody = api_audit_seal(rec, 3, hashes[1], rhash);
                rewritten = api_audit_line(rbody, rhash);
                rewritten[strlen(rewritten) - 1] = '\0';
                json_decref(rec);
        }
        memcpy(good, lines, sizeof(lines));
        good[2] = rewritten;
        v = walk(good, 0, NULL);
        CHECK(v.bad && v.bad_seq == 4 && strstr(v.why, "prev_hash"),
              "a record changed and re-hashed breaks the link to the next record, which is named");

        /* A truncated last line. */
        truncated = hd_asprintf("%.*s", (int)strlen(lines[N - 1]) - 20, lines[N - 1]);
        memcpy(good, lines, sizeof(lines));
        good[N - 1] = truncated;
        v = walk(good, 0, NULL);
        CHECK(v.bad && v.bad_seq == N && strstr(v.why, "truncated") && v.count == N - 1,
              "a cut-off last line is named by the record expected there");

        /* A log that starts after an anchor (a rotated file, a pruned database). */
        for (int i = 2; i < N; i++)
                from3[i - 2] = lines[i];
        v = walk(from3, 0, NULL);
        CHECK(v.bad && v.bad_seq == 3 && strstr(v.why, "missing predecessor") && strstr(v.why, "anchor"),
              "a log that does not start at genesis fails at its first record, pointing at the anchor");
        v = walk(from3, 2, hashes[1]);
        CHECK(!v.bad && v.count == N - 2 && v.first_seq == 3, "with the anchor (seq and hash of record 2) it verifies");
        v = walk(from3, 2, hashes[0]);
        CHECK(v.bad && v.bad_seq == 3, "with a wrong anchor hash it does not");
}

static void test_verify_objects(void)
{
        api_audit_verifier v;
        json_t *recs[N];
        bool all = true;

        for (int i = 0; i < N; i++)
                recs[i] = json_loads(lines[i], 0, NULL);
        api_audit_verify_start(&v, 0, NULL);
        for (int i = 0; i < N; i++)
                all &= api_audit_verify_object(&v, recs[i]) == 0;
        CHECK(all && v.count == N, "records exported as JSON objects (as GET /v1/audit gives them) verify, "
                                   "non-ASCII text included");
        json_object_set_new(json_object_get(recs[1], "actor"), "user", json_string("mallory"));
        api_audit_verify_start(&v, 0, NULL);
        for (int i = 0; i < N; i++)
                api_audit_verify_object(&v, recs[i]);
        CHECK(v.bad && v.bad_seq == 2 && strstr(v.why, "hash mismatch"), "an exported record with a changed actor is named");
        json_object_del(recs[0], "hash");
        api_audit_verify_start(&v, 0, NULL);
        api_audit_verify_object(&v, recs[0]);
        CHECK(v.bad && v.bad_seq == 1, "a record without its hash is bad");
        for (int i = 0; i < N; i++)
                json_decref(recs[i]);
}

int main(void)
{
        test_sha256();
        make_log();
        test_seal_and_line();
        test_verify_lines();
        test_verify_objects();
        for (int i = 0; i < N; i++)
                free(lines[i]);
        return tl_done();
}

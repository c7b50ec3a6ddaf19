#!/usr/bin/python3
"""authz.py — who may do what, against a real hostd: every route of the route
table (read from api/handlers.c, so a new route without rows here fails) x
every role (admin, template-admin, user-admin, auditor, member) x the caller's
own resource and another user's, each answer checked for its exact status.
Every caller sends its API token as a bearer token over the unix socket.
hostd also serves HTTPS on loopback (a certificate from a test CA): there
every route but health is 401 without a token or with a malformed one, and
for a sample of rows, at least one per permission kind, each role's token
gets the same status over HTTPS as over the socket.

No guest boots: agent_binary names a file that does not exist, so each
workspace fails within a second of its creation, after its disk is made and
before anything is injected; start, stop and delete act on such workspaces
for real. GPUs come from the fixture sysfs tree of an 8 x H100 board."""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import TOP, Hostd, TestCA, check, done, https_request, note, test_ssh_key  # noqa: E402

FIX = os.path.join(TOP, "tests", "fixtures", "gpu", "hgx-8xh100")
GPU = "0000:18:00.0"

# Role, the user holding it (admin: the bootstrap user), and the order rows run in:
# admin last, so that what it deletes of another user's is still there for the others.
ROLES = ["template-admin", "user-admin", "auditor", "member", "admin"]
USER = {"admin": "admin", "template-admin": "ta", "user-admin": "ua", "auditor": "aud", "member": "mem"}
COLS = ["admin", "template-admin", "user-admin", "auditor", "member"]  # the order of the status columns
OTHER = "bystander"  # a member whose workspace, record and tokens are "another user's"

# (method, route pattern, path as sent, body, status per role in COLS order).
# Paths: {u} the caller's user, {own_ws}/{other_ws} workspaces, {image}/{template}
# a catalog entry the caller may delete (else a shared one), {victim} a user only
# this row deletes, {own_tok}/{other_tok} token ids, {gpu} a GPU address.
# Bodies are formatted with the same names.
OWN_WS = "own-{u}"
TABLE = [
    # method   route                           path                              body                             adm  ta   ua   aud  mem
    ("GET", "/v1/health", "/v1/health", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/events", "/v1/events", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/images", "/v1/images", None, (200, 200, 200, 200, 200)),
    ("POST", "/v1/images", "/v1/images", {"name": "img-{u}{twin}", "path": "{raw}", "format": "raw"},
     (201, 201, 403, 403, 403)),
    ("GET", "/v1/images/{name}", "/v1/images/tiny", None, (200, 200, 200, 200, 200)),
    ("DELETE", "/v1/images/{name}", "/v1/images/{image}", None, (204, 204, 403, 403, 403)),
    ("GET", "/v1/templates", "/v1/templates", None, (200, 200, 200, 200, 200)),
    ("POST", "/v1/templates", "/v1/templates",
     {"name": "tpl-{u}", "image": "tiny", "vcpus": 1, "memory": "1G", "disk": "4G"}, (201, 201, 403, 403, 403)),
    ("GET", "/v1/templates/{name}", "/v1/templates/base", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/templates/{name}/diff", "/v1/templates/base/diff", None, (200, 200, 200, 200, 200)),
    ("DELETE", "/v1/templates/{name}", "/v1/templates/{template}", None, (204, 204, 403, 403, 403)),
    ("GET", "/v1/gpus", "/v1/gpus", None, (200, 200, 200, 200, 200)),
    ("POST", "/v1/gpus/refresh", "/v1/gpus/refresh", None, (200, 403, 403, 403, 403)),
    ("POST", "/v1/gpus/{address}/clear", "/v1/gpus/{gpu}/clear", None, (200, 403, 403, 403, 403)),
    ("GET", "/v1/workspaces", "/v1/workspaces", None, (200, 200, 200, 200, 200)),
    ("POST", "/v1/workspaces", "/v1/workspaces",
     {"name": "new-{u}", "image": "tiny", "ssh_keys": ["{key}"]}, (202, 202, 202, 403, 202)),
    ("GET", "/v1/workspaces/{ref}", "/v1/workspaces/{own_ws}", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/workspaces/{ref}", "/v1/workspaces/{other_ws}", None, (200, 404, 404, 200, 404)),
    ("POST", "/v1/workspaces/{ref}/start", "/v1/workspaces/{own_ws}/start", None, (202, 202, 202, 403, 202)),
    ("POST", "/v1/workspaces/{ref}/start", "/v1/workspaces/{other_ws}/start", None, (202, 404, 404, 403, 404)),
    ("POST", "/v1/workspaces/{ref}/stop", "/v1/workspaces/{own_ws}/stop", None, (409, 409, 409, 403, 409)),
    ("POST", "/v1/workspaces/{ref}/stop", "/v1/workspaces/{other_ws}/stop", None, (409, 404, 404, 403, 404)),
    ("POST", "/v1/workspaces/{ref}/restart", "/v1/workspaces/{own_ws}/restart", None, (409, 409, 409, 403, 409)),
    ("POST", "/v1/workspaces/{ref}/restart", "/v1/workspaces/{other_ws}/restart", None, (409, 404, 404, 403, 404)),
    ("POST", "/v1/workspaces/{ref}/extend", "/v1/workspaces/{own_ws}/extend", {"seconds": 600},
     (409, 409, 409, 403, 409)),
    ("POST", "/v1/workspaces/{ref}/extend", "/v1/workspaces/{other_ws}/extend", {"seconds": 600},
     (409, 404, 404, 403, 404)),
    # Neither workspace has a startup script: own is 404 "no startup script", other's 404 "no workspace".
    ("GET", "/v1/workspaces/{ref}/startup-log", "/v1/workspaces/{own_ws}/startup-log", None, (404, 404, 404, 404, 404)),
    ("GET", "/v1/workspaces/{ref}/startup-log", "/v1/workspaces/{other_ws}/startup-log", None,
     (404, 404, 404, 404, 404)),
    ("DELETE", "/v1/workspaces/{ref}", "/v1/workspaces/{own_ws}", None, (202, 202, 202, 403, 202)),
    ("DELETE", "/v1/workspaces/{ref}", "/v1/workspaces/{other_ws}", None, (202, 404, 404, 403, 404)),
    ("GET", "/v1/users", "/v1/users", None, (200, 403, 200, 200, 403)),
    ("POST", "/v1/users", "/v1/users", {"name": "made-by-{u}", "email": "x@example.org"}, (201, 403, 201, 403, 403)),
    ("GET", "/v1/users/{name}", "/v1/users/{u}", None, (200, 403, 200, 200, 403)),
    ("GET", "/v1/users/{name}", "/v1/users/" + OTHER, None, (200, 403, 200, 200, 403)),
    ("PATCH", "/v1/users/{name}", "/v1/users/{u}", {"email": "{u}@example.org"}, (200, 403, 200, 403, 403)),
    ("PATCH", "/v1/users/{name}", "/v1/users/" + OTHER, {"groups": ["ml", "{u}"]}, (200, 403, 200, 403, 403)),
    ("DELETE", "/v1/users/{name}", "/v1/users/{u}", None, (409, 403, 409, 403, 403)),
    ("DELETE", "/v1/users/{name}", "/v1/users/{victim}", None, (204, 403, 204, 403, 403)),
    ("POST", "/v1/tokens", "/v1/tokens", {"name": "new-{u}", "expires_in": 600}, (201, 201, 201, 201, 201)),
    ("POST", "/v1/tokens", "/v1/tokens", {"name": "for-other-{u}", "expires_in": 600, "user": OTHER},
     (201, 403, 201, 403, 403)),
    ("GET", "/v1/tokens", "/v1/tokens", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/tokens", "/v1/tokens?user=" + OTHER, None, (200, 403, 200, 200, 403)),
    ("DELETE", "/v1/tokens/{id}", "/v1/tokens/{own_tok}", None, (204, 204, 204, 204, 204)),
    ("DELETE", "/v1/tokens/{id}", "/v1/tokens/{other_tok}", None, (204, 404, 204, 403, 404)),
    ("GET", "/v1/audit", "/v1/audit", None, (200, 403, 403, 200, 403)),
    ("GET", "/v1/quotas/me", "/v1/quotas/me", None, (200, 200, 200, 200, 200)),
    ("GET", "/v1/quotas", "/v1/quotas", None, (200, 403, 200, 200, 403)),
    ("PUT", "/v1/quotas/users/{name}", "/v1/quotas/users/q-{u}", {"vcpus": 8}, (200, 403, 200, 403, 403)),
    ("DELETE", "/v1/quotas/users/{name}", "/v1/quotas/users/q-{u}", None, (204, 403, 204, 403, 403)),
    ("PUT", "/v1/quotas/groups/{name}", "/v1/quotas/groups/g-{u}", {"workspaces": 4}, (200, 403, 200, 403, 403)),
    ("DELETE", "/v1/quotas/groups/{name}", "/v1/quotas/groups/g-{u}", None, (204, 403, 204, 403, 403)),
]

# Rows sent over HTTPS too, right after the socket, with the same token: at
# least one per permission kind (checked against the route table), each
# answering the same when sent twice; a create is sent again for a twin
# resource ({twin} = "-tls"), as a second create of the same would conflict.
SAMPLE = {
    ("GET", "/v1/health"),
    ("GET", "/v1/tokens?user=" + OTHER),
    ("GET", "/v1/workspaces/{other_ws}"),
    ("POST", "/v1/workspaces/{other_ws}/stop"),
    ("GET", "/v1/templates/base/diff"),
    ("POST", "/v1/images"),
    ("POST", "/v1/gpus/refresh"),
    ("GET", "/v1/users/" + OTHER),
    ("PUT", "/v1/quotas/users/q-{u}"),
    ("GET", "/v1/audit"),
}
MALFORMED = "Bearer hdt_not*a*token"


def routes_served():
    """Every (method, pattern, permission) row of the route table in api/handlers.c."""
    with open(os.path.join(TOP, "api", "handlers.c")) as f:
        text = f.read()
    return re.findall(r'\{"(GET|POST|PUT|PATCH|DELETE)", "(/v1/[^"]*)", \w+, (API_PERM_\w+)\}', text)


def fill(value, names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


work = tempfile.mkdtemp(prefix="hostd-authz-")
_, pub = test_ssh_key(work)
raw = os.path.join(work, "tiny.img")
with open(raw, "wb") as f:
    f.write(b"\0" * 65536)

ca = TestCA(work)
port, listen = ca.https_listener()
# The sweep below fails authentication twice per route from 127.0.0.1 (some
# 70 times): well past the default 10 per minute after which hostd answers
# 429 (https.py tests that limiter). One connection at a time: the default
# api_max_connections_per_ip is enough.
h = Hostd(f"agent_binary = {work}/no-such-agent\nvirt_type = kvm\ngpu_sysfs_root = {FIX}/sys\n"
          f"gpu_pci_ids = {TOP}/tests/fixtures/gpu/pci.ids\ngpu_kernel_cmdline = {FIX}/proc/cmdline\n"
          + listen + "api_auth_failures_per_minute = 1000\n", name="authz").start()
tls = ca.context()
try:
    with open(os.path.join(h.dir, "state", "bootstrap-token")) as f:
        tokens = {"admin": f.read().strip()}

    def req(role, method, path, body=None, headers=None, https=False):
        hdrs = {"Authorization": f"Bearer {tokens[role]}"}
        hdrs.update(headers or {})
        if https:
            return https_request(port, method, path, body, headers=hdrs, context=tls,
                                 stream=path.startswith("/v1/events"))
        return h.request(method, path, body, headers=hdrs, stream=path.startswith("/v1/events"))

    def as_admin(method, path, body=None, headers=None, want=None):
        r = req("admin", method, path, body, headers)
        if want is not None and r.status != want:
            raise RuntimeError(f"setup: {method} {path} -> {r!r}")
        return r

    # ---- the cast: a user per role, each with a token; a bystander member ----
    for role in COLS[1:]:
        as_admin("POST", "/v1/users", {"name": USER[role], "roles": [role]}, want=201)
    as_admin("POST", "/v1/users", {"name": OTHER}, want=201)
    for role in COLS[1:]:
        r = as_admin("POST", "/v1/tokens", {"name": "main", "expires_in": 3600, "user": USER[role]}, want=201)
        tokens[role] = r.json["token"]
    own_tok, other_tok, victim = {}, {}, {}
    for role in COLS:
        u = USER[role]
        own_tok[role] = as_admin("POST", "/v1/tokens", {"name": "to-revoke", "expires_in": 3600, "user": u},
                                 want=201).json["id"]
        other_tok[role] = as_admin("POST", "/v1/tokens", {"name": f"victim-{u}", "expires_in": 3600, "user": OTHER},
                                   want=201).json["id"]
        victim[role] = f"victim-{u}"
        as_admin("POST", "/v1/users", {"name": victim[role]}, want=201)

    # ---- the catalog: an image, a template with two versions ------------------
    as_admin("POST", "/v1/images", {"name": "tiny", "path": raw, "format": "raw"}, want=201)
    base = {"name": "base", "image": "tiny", "vcpus": 1, "memory": "1G", "disk": "4G"}
    as_admin("POST", "/v1/templates", base, want=201)
    as_admin("POST", "/v1/templates", dict(base, vcpus=2), want=201)

    # ---- workspaces: one of each user's own, one of the bystander's, all failed
    # (no agent to inject), made by the admin on the owner's behalf ---------------
    owners = [USER[r] for r in COLS] + [OTHER]
    for u in owners:
        name = "other" if u == OTHER else OWN_WS.format(u=u)
        as_admin("POST", "/v1/workspaces", {"name": name, "image": "tiny", "ssh_keys": [pub]},
                 headers={"X-On-Behalf-Of": u}, want=202)
    for u in owners:
        name = "other" if u == OTHER else OWN_WS.format(u=u)
        state, cur, secs = h.wait_state(name, ("failed",), 120)
        if state != "failed":
            raise RuntimeError(f"setup: workspace {name} is {state}, not failed: {cur}")
    r = as_admin("GET", "/v1/workspaces/other")
    check(r.json["owner"] == OTHER and "agent binary" in (r.json.get("reason") or ""),
          "workspaces made on another user's behalf belong to that user, and fail without booting", r)

    # ---- every route is in the table ------------------------------------------
    served = routes_served()
    check(len(served) >= 29, f"the route table is read from api/handlers.c ({len(served)} routes)", served)
    covered = {(m, route) for m, route, *_ in TABLE}
    missing = [f"{m} {p} ({perm})" for m, p, perm in served if (m, p) not in covered]
    check(not missing, "every route of the route table has rows in this test's table", "\n".join(missing))
    unknown = [f"{m} {p}" for m, p in covered if (m, p) not in {(m2, p2) for m2, p2, _ in served}]
    check(not unknown, "every row of the table is a route that is served", "\n".join(unknown))
    perm_of = {(m, p): perm for m, p, perm in served}
    sampled = {perm_of.get((m, route)) for m, route, path, *_ in TABLE if (m, path) in SAMPLE}
    check(len({(m, path) for m, _, path, *_ in TABLE} & SAMPLE) == len(SAMPLE) and
          sampled == set(perm_of.values()), "the rows sent over HTTPS too cover every permission kind",
          f"missing: {set(perm_of.values()) - sampled}")

    # ---- HTTPS without a (good) token ---------------------------------------------
    wrong = []
    names = {"u": "admin", "own_ws": OWN_WS.format(u="admin"), "other_ws": "other", "raw": raw, "key": pub,
             "image": "tiny", "template": "base", "victim": victim["admin"], "own_tok": own_tok["admin"],
             "other_tok": other_tok["admin"], "gpu": GPU, "twin": ""}
    routes = {}
    for method, route, path, body, _ in TABLE:
        routes.setdefault((method, route), (fill(path, names), fill(body, names)))
    for (method, route), (sent, body) in routes.items():
        want = 200 if route == "/v1/health" else 401
        for what, hdrs in (("no token", {}), ("a malformed token", {"Authorization": MALFORMED})):
            r = https_request(port, method, sent, body, headers=hdrs, context=tls)
            if r.status != want or (want == 401 and r.error_code() != "unauthenticated"):
                wrong.append(f"{method} {sent} with {what}: {r.status}, wanted {want}: {r.raw[:160]}")
    check(not wrong, f"over HTTPS each of the {len(routes)} routes is 401 without a token and with a malformed "
          "one (health: 200)", "\n".join(wrong))

    # ---- the matrix -------------------------------------------------------------
    wrong, differ = [], []
    cells = 0
    for method, route, path, body, statuses in TABLE:
        for role in ROLES:
            want = statuses[COLS.index(role)]
            u = USER[role]
            names = {"u": u, "own_ws": OWN_WS.format(u=u), "other_ws": "other", "raw": raw, "key": pub,
                     "image": f"img-{u}" if want == 204 else "tiny",
                     "template": f"tpl-{u}" if want == 204 else "base", "victim": victim[role],
                     "own_tok": own_tok[role], "other_tok": other_tok[role], "gpu": GPU, "twin": ""}
            sent = fill(path, names)
            r = req(role, method, sent, fill(body, names))
            if (method, path) in SAMPLE:
                r2 = req(role, method, sent, fill(body, dict(names, twin="-tls")), https=True)
                if r2.status != r.status:
                    differ.append(f"{role} {method} {sent}: {r.status} on the socket, {r2.status} over HTTPS: "
                                  f"{r2.raw[:160]}")
            cells += 1
            if r.status != want:
                wrong.append(f"{role} {method} {sent}: {r.status}, wanted {want}: {r.raw[:160]}")
            elif r.status in (401, 403, 404, 405, 409) and not r.error_message():
                wrong.append(f"{role} {method} {sent}: {r.status} without a message")
            # A workspace acted on settles (failed again, or gone) before the next row.
            if "/v1/workspaces/" in sent and r.status == 202:
                ref = sent.split("/")[3]
                h.wait_state(ref, ("failed", "gone"), 120)
    check(not wrong, f"each of the {cells} (route, role, whose) cells answers its exact status",
          "\n".join(wrong))
    check(not differ, f"for the {len(SAMPLE)} sampled rows x {len(ROLES)} roles, each token gets the same status "
          "over HTTPS as over the socket", "\n".join(differ))

    # ---- what the answers hold --------------------------------------------------
    r = req("member", "GET", "/v1/workspaces")
    check(r.status == 200 and {w["owner"] for w in r.json["workspaces"]} == {"mem"},
          "a member's list holds only its own workspaces", r)
    r = req("auditor", "GET", "/v1/workspaces")
    check(r.status == 200 and {"mem", "ua", "admin"} <= {w["owner"] for w in r.json["workspaces"]},
          "an auditor's list holds everybody's", r)
    r = req("member", "GET", "/v1/tokens")
    check(r.status == 200 and {t["user"] for t in r.json["tokens"]} == {"mem"} and
          all("token" not in t and "hash" not in t for t in r.json["tokens"]),
          "a member lists only its own tokens, never their values or hashes", r)
    r = req("auditor", "GET", "/v1/tokens?all=true")
    check(r.status == 200 and {"mem", "admin", OTHER} <= {t["user"] for t in r.json["tokens"]},
          "an auditor lists every user's tokens with ?all=true", r)
    check(req("member", "GET", "/v1/tokens?all=true").status == 403, "a member may not")

    # ---- the user-admin's limits --------------------------------------------------
    def refused(r, status, words, what):
        return check(r.status == status and words in r.error_message(), what, r)

    refused(req("user-admin", "POST", "/v1/users", {"name": "boss", "roles": ["admin"]}), 403, "only an admin",
            "a user-admin cannot make an admin")
    refused(req("user-admin", "PATCH", f"/v1/users/{OTHER}", {"roles": ["member", "admin"]}), 403, "only an admin",
            "a user-admin cannot grant role admin")
    refused(req("user-admin", "PATCH", "/v1/users/admin", {"email": "x@example.org"}), 403, "is an admin",
            "a user-admin cannot change an admin")
    refused(req("user-admin", "PATCH", "/v1/users/admin", {"disabled": True}), 403, "is an admin",
            "a user-admin cannot disable an admin")
    refused(req("user-admin", "DELETE", "/v1/users/admin"), 403, "is an admin", "a user-admin cannot delete an admin")
    refused(req("user-admin", "POST", "/v1/tokens", {"name": "x", "expires_in": 60, "user": "admin"}), 403,
            "is an admin", "a user-admin cannot make a token for an admin")
    admin_tok = as_admin("POST", "/v1/tokens", {"name": "spare", "expires_in": 60}, want=201).json["id"]
    refused(req("user-admin", "DELETE", f"/v1/tokens/{admin_tok}"), 403, "is an admin",
            "a user-admin cannot revoke an admin's token")
    refused(req("user-admin", "POST", "/v1/users", {"name": "x", "roles": ["wizard"]}), 400, "unknown role",
            "an unknown role is refused, naming the roles there are")
    r = as_admin("PATCH", f"/v1/users/{OTHER}", {"roles": ["member", "auditor"]})
    check(r.status == 200 and r.json["roles"] == ["member", "auditor"], "an admin changes roles", r)
    refused(as_admin("PATCH", "/v1/users/admin", {"disabled": True}), 409, "yourself",
            "nobody disables themselves")

    # ---- a token never grants more than its user has now -----------------------
    check(req("template-admin", "POST", "/v1/gpus/refresh").status == 403, "a template-admin may not refresh GPUs")
    as_admin("PATCH", "/v1/users/ta", {"roles": ["template-admin", "admin"]}, want=200)
    check(req("template-admin", "POST", "/v1/gpus/refresh").status == 200,
          "granted admin, the same token may at once")
    as_admin("PATCH", "/v1/users/ta", {"roles": ["member"]}, want=200)
    r = req("template-admin", "POST", "/v1/templates", dict(base, name="late"))
    check(r.status == 403, "with the role taken away, its next request is refused", r)

    # ---- on behalf of ---------------------------------------------------------------
    r = req("member", "GET", "/v1/workspaces", headers={"X-On-Behalf-Of": OTHER})
    refused(r, 403, "only an admin", "only an admin may act on behalf of another user")
    r = as_admin("GET", "/v1/workspaces", headers={"X-On-Behalf-Of": "mem"})
    check(r.status == 200 and {w["owner"] for w in r.json["workspaces"]} == {"mem"},
          "an admin on behalf of a user sees what that user sees", r)

    # ---- routing and credentials --------------------------------------------------
    refused(req("member", "GET", "/v1/nothing"), 404, "no such path", "an unknown path is 404")
    r = req("member", "PUT", "/v1/users")
    check(r.status == 405 and r.error_code() == "method_not_allowed", "a wrong method is 405", r)
    r = h.request("GET", "/v1/workspaces", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    check(r.status == 401 and "Bearer" in r.error_message(), "an Authorization header that is not Bearer is 401", r)
    r = h.request("GET", "/v1/health", headers={"Authorization": "Bearer nonsense"})
    check(r.status == 200, "health needs no credentials, and ignores bad ones", r)

    # Leave nothing running: delete what the matrix made.
    for w in as_admin("GET", "/v1/workspaces").json["workspaces"]:
        as_admin("DELETE", f"/v1/workspaces/{w['name']}")
    for w in as_admin("GET", "/v1/workspaces").json["workspaces"]:
        h.wait_state(w["name"], ("gone",), 120)
    check(as_admin("GET", "/v1/workspaces").json["workspaces"] == [], "every workspace of the test is deleted")
except Exception as e:  # a setup step failed: say which, and fail
    check(False, "the test ran to its end", repr(e))
    note(h.log()[-3000:])
finally:
    h.cleanup()
    shutil.rmtree(work, ignore_errors=True)
done()

#!/usr/bin/python3
"""tokens.py — API tokens and user records against a real hostd: the
bootstrap admin token (a root-only file, its place logged, never its value),
tokens refused when malformed, unknown, expired, revoked, out of their scope
or of a disabled or deleted user, each with its status and a message that
says why; a unix-socket user takes the roles of its user record; and no token
made in the test is anywhere in the database files, while their hashes are.
No guest boots (agent_binary names no file)."""
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import Hostd, check, done, note, test_ssh_key  # noqa: E402

NOBODY = 65534

work = tempfile.mkdtemp(prefix="hostd-tokens-")
os.chmod(work, 0o755)
_, pub = test_ssh_key(work)
raw = os.path.join(work, "tiny.img")
with open(raw, "wb") as f:
    f.write(b"\0" * 65536)
made = []  # every token value the test saw


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def as_nobody(h, method, path, token=None):
    """A request from uid 65534 (no token: its peer credentials speak)."""
    code = ("import http.client,json,socket,sys\n"
            "class C(http.client.HTTPConnection):\n"
            "    def connect(self):\n"
            "        self.sock=socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])\n"
            "c=C('localhost'); h=json.loads(sys.argv[4])\n"
            "c.request(sys.argv[2], sys.argv[3], body=b'{\"name\":\"mine\",\"expires_in\":600}'"
            " if sys.argv[2]=='POST' else None, headers=h)\n"
            "r=c.getresponse(); print(r.status); print(r.read().decode())\n")
    hdrs = bearer(token) if token else {}
    p = subprocess.run([sys.executable, "-c", code, h.socket, method, path, json.dumps(hdrs)], user=NOBODY,
                       group=NOBODY, capture_output=True, text=True, timeout=30)
    lines = p.stdout.split("\n", 1)
    try:
        return int(lines[0]), json.loads(lines[1]) if len(lines) > 1 and lines[1].strip() else None
    except ValueError:
        return None, p.stdout + p.stderr


def message(body):
    try:
        return body["error"]["message"]
    except (TypeError, KeyError):
        return ""


h = Hostd(f"agent_binary = {work}/no-such-agent\nsocket_mode = 0666\ntoken_max_lifetime = 30d\n",
          name="tokens").start()
try:
    # ---- bootstrap --------------------------------------------------------------
    path = os.path.join(h.dir, "state", "bootstrap-token")
    st = os.stat(path)
    check(st.st_uid == 0 and (st.st_mode & 0o777) == 0o600, "the bootstrap token file is root's, mode 0600", oct(st.st_mode))
    with open(path) as f:
        boot = f.read().strip()
    made.append(boot)
    check(boot.startswith("hdt_") and len(boot) == 47, "it holds an hdt_ token of 47 characters", len(boot))
    check(path in h.log() and boot not in h.log(), "the log says where the token is, never what it is")

    def admin(method, url, body=None, headers=None):
        hdrs = bearer(boot)
        hdrs.update(headers or {})
        return h.request(method, url, body, headers=hdrs)

    r = admin("GET", "/v1/users/admin")
    check(r.status == 200 and r.json["roles"] == ["admin"], "it belongs to user admin, role admin", r)
    h.stop()
    h.start()
    with open(path) as f:
        check(f.read().strip() == boot, "a restart with a live admin token leaves the file alone")
    check(len([t for t in admin("GET", "/v1/tokens").json["tokens"] if t["name"] == "bootstrap"]) == 1,
          "and makes no second bootstrap token")

    # ---- a member and its tokens -------------------------------------------------
    check(admin("POST", "/v1/users", {"name": "dev", "email": "dev@example.org"}).status == 201, "user dev is made")
    r = admin("POST", "/v1/tokens", {"name": "laptop", "expires_in": 3600, "user": "dev"})
    check(r.status == 201 and r.json["user"] == "dev" and r.json["state"] == "live", "a token for dev is made", r)
    dev = r.json["token"]
    dev_id = r.json["id"]
    made.append(dev)
    check(h.request("POST", "/v1/images", {"name": "tiny", "path": raw, "format": "raw"}).status == 201,
          "an image for workspaces")
    r = h.request("POST", "/v1/workspaces", {"name": "box", "image": "tiny", "ssh_keys": [pub]}, headers=bearer(dev))
    check(r.status == 202 and r.json["owner"] == "dev", "dev's token makes a workspace that dev owns", r)
    r = admin("POST", "/v1/workspaces", {"name": "adminbox", "image": "tiny", "ssh_keys": [pub]})
    check(r.status == 202 and r.json["owner"] == "admin", "the admin makes one of its own", r)
    h.wait_state("box", ("failed",), 60)
    h.wait_state("adminbox", ("failed",), 60)
    r = admin("GET", "/v1/tokens?user=dev")
    check(r.status == 200 and r.json["tokens"][0]["last_used_at"] is not None, "a token's last use is shown", r)
    r = admin("POST", "/v1/tokens", {"name": "long", "expires_in": 31 * 86400})
    check(r.status == 400 and "token_max_lifetime is 2592000 s (30 days)" in r.error_message(),
          "a token asked to live longer than token_max_lifetime is refused, naming the maximum", r)
    r = admin("POST", "/v1/tokens", {"name": "forever"})
    check(r.status == 400 and "expires_in" in r.error_message(), "a token without an expiry is refused", r)
    r = h.request("POST", "/v1/tokens", {"name": "laptop", "expires_in": 60, "user": "dev"})
    check(r.status == 409 and "laptop" in r.error_message(), "a second live token with one name is a conflict", r)

    # ---- refusals -----------------------------------------------------------------
    def refused(token, status, words, what, method="GET", url="/v1/workspaces", body=None):
        r = h.request(method, url, body, headers=bearer(token))
        return check(r.status == status and words in r.error_message(), what, r)

    refused("hdt_short", 401, "malformed", "a cut token is 401 malformed")
    refused("ghp_" + "a" * 43, 401, "starts with 'hdt_'", "a token of another kind is 401, saying what ours look like")
    refused("hdt_" + "!" * 43, 401, "malformed", "a token with characters outside base64url is 401")
    unknown = "hdt_" + secrets.token_urlsafe(32)[:43]
    refused(unknown, 401, "unknown token", "a well-formed token this host never made is 401 unknown")
    r = h.request("GET", "/v1/workspaces", headers={"Authorization": "Bearer " + unknown})
    check(r.status == 401 and r.raw and "WWW-Authenticate" not in r.raw, "401 answers are JSON errors", r)

    r = admin("POST", "/v1/tokens", {"name": "brief", "expires_in": 1, "user": "dev"})
    brief = r.json["token"]
    made.append(brief)
    time.sleep(2.1)
    refused(brief, 401, "expired", "an expired token is 401 expired, naming it")

    r = admin("POST", "/v1/tokens", {"name": "gone", "expires_in": 600, "user": "dev"})
    gone, gone_id = r.json["token"], r.json["id"]
    made.append(gone)
    refused(gone, 200, "", "a token works before it is revoked")
    check(h.request("DELETE", f"/v1/tokens/{gone_id}", headers=bearer(dev)).status == 204,
          "dev revokes its own token")
    refused(gone, 401, "revoked", "a revoked token is 401 revoked, at once")

    r = h.request("POST", "/v1/tokens", {"name": "reader", "expires_in": 600, "read_only": True}, headers=bearer(dev))
    check(r.status == 201 and r.json["scopes"]["read_only"], "dev makes itself a read-only token", r)
    reader = r.json["token"]
    made.append(reader)
    refused(reader, 200, "", "a read-only token reads")
    refused(reader, 403, "read-only", "a read-only token cannot create (403, scope named)", "POST", "/v1/workspaces",
            {"name": "x", "image": "tiny", "ssh_keys": [pub]})
    refused(reader, 403, "read-only", "nor make another token", "POST", "/v1/tokens", {"name": "y", "expires_in": 60})

    r = h.request("POST", "/v1/tokens", {"name": "ci", "expires_in": 600, "workspace": "box"}, headers=bearer(dev))
    box_id = h.request("GET", "/v1/workspaces/box").json["id"]
    check(r.status == 201 and r.json["scopes"]["workspace"] == box_id,
          "a token scoped to a workspace by name keeps the workspace's id", r)
    scoped = r.json["token"]
    made.append(scoped)
    refused(scoped, 200, "", "the scoped token reads its workspace", url="/v1/workspaces/box")
    r = h.request("GET", "/v1/workspaces", headers=bearer(scoped))
    check(r.status == 200 and [w["name"] for w in r.json["workspaces"]] == ["box"],
          "the scoped token lists only its workspace", r)
    refused(scoped, 403, "only be used on workspace", "the scoped token is refused elsewhere (403)", url="/v1/images")
    refused(scoped, 403, "only be used on workspace", "a scoped token cannot make workspaces", "POST",
            "/v1/workspaces", {"name": "y", "image": "tiny", "ssh_keys": [pub]})
    r = h.request("POST", "/v1/tokens", {"name": "ci2", "expires_in": 600, "workspace": "adminbox"},
                  headers=bearer(dev))
    check(r.status == 404, "a token cannot be scoped to a workspace its maker does not see", r)
    r = admin("POST", "/v1/tokens", {"name": "adm-scoped", "expires_in": 600, "workspace": "box"})
    adm_scoped = r.json["token"]
    made.append(adm_scoped)
    refused(adm_scoped, 200, "", "an admin's token scoped to box reads box", url="/v1/workspaces/box")
    refused(adm_scoped, 404, "no workspace", "and nothing else, not even the admin's own", url="/v1/workspaces/adminbox")

    # ---- disabled and deleted users ----------------------------------------------
    r = admin("PATCH", "/v1/users/dev", {"disabled": True})
    check(r.status == 200 and r.json["disabled"], "dev is disabled", r)
    refused(dev, 403, "disabled", "a disabled user's token is refused at once (403, saying so)")
    refused(reader, 403, "disabled", "every one of its tokens")
    r = admin("POST", "/v1/tokens", {"name": "new", "expires_in": 60, "user": "dev"})
    check(r.status == 409 and "disabled" in r.error_message(), "no token is made for a disabled user", r)
    admin("PATCH", "/v1/users/dev", {"disabled": False})
    refused(dev, 200, "", "enabled again, its tokens work again")
    check(admin("DELETE", "/v1/users/dev").status == 204, "dev is deleted")
    refused(dev, 401, "unknown token", "a deleted user's tokens are gone (401)")
    check(h.request("GET", "/v1/workspaces/box").json["owner"] == "dev", "its workspace keeps its owner")
    r = admin("GET", f"/v1/tokens?user=dev")
    check(r.status == 200 and r.json["tokens"] == [] and dev_id, "and it has no token left", r)

    # ---- a unix-socket user and its record ------------------------------------------
    status, body = as_nobody(h, "GET", "/v1/users")
    check(status == 403, "a unix user without a record is a member: users are not its to read", (status, body))
    status, body = as_nobody(h, "POST", "/v1/tokens")
    check(status == 201 and body["user"] == "nobody", "it makes itself a token over the socket", (status, body))
    nob = body["token"] if status == 201 else ""
    made.append(nob)
    r = admin("GET", "/v1/users/nobody")
    check(r.status == 200 and r.json["roles"] == ["member"], "which makes its record, with the roles it had", r)
    admin("PATCH", "/v1/users/nobody", {"roles": ["auditor"]})
    status, body = as_nobody(h, "GET", "/v1/users")
    check(status == 200, "with role auditor on its record, the unix user reads users", (status, body))
    status, body = as_nobody(h, "GET", "/v1/users", token=nob)
    check(status == 200, "and so does its token", (status, body))
    admin("PATCH", "/v1/users/nobody", {"disabled": True})
    status, body = as_nobody(h, "GET", "/v1/workspaces")
    check(status == 403 and "disabled" in message(body), "a disabled record refuses the unix user too", (status, body))
    admin("POST", "/v1/users", {"name": "root", "roles": ["member"], "email": "root@example.org"})
    r = h.request("POST", "/v1/gpus/refresh")
    check(r.status == 200, "root on the socket stays an admin whatever a record says", r)

    # ---- the database files hold hashes, never tokens -----------------------------
    blobs = b""
    for name in ("hostd.db", "hostd.db-wal", "hostd.db-shm"):
        p = os.path.join(h.dir, "state", name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                blobs += f.read()
    leaked = [t[:8] + "…" for t in made if t and t.encode() in blobs]
    check(len(made) >= 8 and not leaked, f"none of the {len(made)} tokens made is in hostd.db or its WAL", leaked)
    hashes = [hashlib.sha256(t.encode()).hexdigest().encode() for t in made if t]
    check(sum(x in blobs for x in hashes) >= 1, "while their SHA-256 hashes are (the search reads the right files)")

    # ---- a new bootstrap token once the old one is gone --------------------------
    boot_id = [t["id"] for t in admin("GET", "/v1/tokens").json["tokens"] if t["name"] == "bootstrap"][0]
    check(admin("DELETE", f"/v1/tokens/{boot_id}").status == 204, "the bootstrap token is revoked")
    h.stop()
    h.start()
    with open(path) as f:
        check(f.read().strip() == boot, "with its file still there, a restart leaves the file alone")
    check("left alone" in h.log(), "and says so in the log")
    os.unlink(path)
    h.stop()
    h.start()
    with open(path) as f:
        again = f.read().strip()
    made.append(again)
    r = h.request("GET", "/v1/users", headers=bearer(again))
    check(again != boot and r.status == 200, "with the file removed, the next start writes a new working one", r)

    for w in ("box", "adminbox"):
        h.request("DELETE", f"/v1/workspaces/{w}")
        h.wait_state(w, ("gone",), 60)
except Exception as e:  # a setup step failed: say which, and fail
    check(False, "the test ran to its end", repr(e))
    note(h.log()[-3000:])
finally:
    h.cleanup()
    subprocess.run(["rm", "-rf", work])
done()

#!/usr/bin/python3
"""audit.py — the audit log through a real hostd (no guest boots): every
mutating route of docs/openapi.yaml leaves exactly one record, whatever its
answer; GET requests leave none; a 401 leaves one and never the token; the
JSONL file verifies with wsctl and with the few lines of Python that
docs/audit.md gives a SIEM team; an unwritable audit file (a directory in its
place, chattr +i) makes a mutating request fail with 500 and not happen;
filters of wsctl audit list; a record edited or deleted in the database with
the sqlite3 CLI is named by wsctl audit verify."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, TOP, Hostd, check, done, note, test_ssh_key  # noqa: E402

GPU = os.path.join(TOP, "tests", "fixtures", "gpu")
TOKEN = "hdt_audit_test_0123456789abcdef0123456789abcdef"
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def openapi_routes():
    """(METHOD, pattern) of every route docs/openapi.yaml documents (the same
    reading as tests/unit/test-api-routes.c, which keeps it equal to the
    server's route table)."""
    routes, current, in_paths = [], None, False
    with open(os.path.join(TOP, "docs", "openapi.yaml")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line == "paths:":
                in_paths = True
            elif in_paths and line and not line.startswith(" "):
                break
            elif in_paths and re.fullmatch(r"  /\S+:", line):
                current = line.strip()[:-1]
            elif in_paths and current and re.fullmatch(r"    (get|post|put|patch|delete):", line):
                routes.append((line.strip()[:-1].upper(), current))
    return routes


def verify_jsonl(paths, anchor=(0, "0" * 64)):
    """The algorithm of docs/audit.md, as a SIEM would write it: (None, last
    seq) when the chain holds, else (seq of the first bad record, why)."""
    seq, prev = anchor
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    return seq + 1, "truncated"
                m = re.fullmatch(rb'(\{.*),"hash":"([0-9a-f]{64})"\}', line[:-1])
                if not m:
                    return seq + 1, "malformed"
                body, digest = m.group(1) + b"}", m.group(2).decode()
                rec = json.loads(body)
                if hashlib.sha256(body).hexdigest() != digest:
                    return rec.get("seq"), "hash mismatch"
                if rec["seq"] != seq + 1 or rec["prev_hash"] != prev:
                    return rec["seq"], "missing predecessor"
                seq, prev = rec["seq"], digest
    return None, seq


def head(h):
    r = h.request("GET", "/v1/audit?limit=1&order=desc")
    return (r.json["head"] or {}).get("seq", 0) if r.status == 200 else -1


def records_after(h, seq):
    r = h.request("GET", f"/v1/audit?after={seq}&limit=1000")
    return r.json["records"] if r.status == 200 else []


def wsctl(h, *args):
    env = dict(os.environ, HOSTD_SOCKET=h.socket)
    r = subprocess.run([f"{BUILD}/wsctl", *args], capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout, r.stderr


def sqlite(db, sql):
    r = subprocess.run(["sqlite3", db, sql], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


work = tempfile.mkdtemp(prefix="hostd-audit-")
_, pubkey = test_ssh_key(work)
template = {"name": "audit-t1", "image": "debian12", "vcpus": 1, "memory": "1G", "disk": "4G"}
machine = os.path.join(GPU, "hgx-8xh100")
h = Hostd(f"gpu_sysfs_root = {machine}/sys\ngpu_pci_ids = {GPU}/pci.ids\n"
          f"gpu_kernel_cmdline = {machine}/proc/cmdline\n", name="audit").start()
audit_file = os.path.join(h.dir, "audit.jsonl")
db = os.path.join(h.dir, "state", "hostd.db")

try:
    st = os.stat(audit_file)
    check(st.st_mode & 0o777 == 0o600, "the audit file is created with mode 0600", oct(st.st_mode))

    # ---- every mutating route: exactly one record --------------------------------
    routes = openapi_routes()
    mutating = [(m, p) for m, p in routes if m in MUTATING]
    check(len(mutating) >= 12, f"docs/openapi.yaml lists the mutating routes ({len(mutating)})", routes)
    bodies = {
        ("POST", "/v1/images"): {"name": "audit-img", "path": "/nonexistent/audit.qcow2", "format": "qcow2"},
        ("POST", "/v1/workspaces"): {"name": "audit-ws", "image": "no-such-image", "ssh_keys": [pubkey]},
        ("POST", "/v1/workspaces/{ref}/extend"): {"seconds": 60},
        ("POST", "/v1/templates"): template,
    }
    params = {"{ref}": "audit-none", "{name}": "audit-none", "{address}": "0000:ff:00.0"}
    for method, pattern in mutating:
        path = pattern
        for k, v in params.items():
            path = path.replace(k, v)
        before = head(h)
        r = h.request(method, path, bodies.get((method, pattern), {}))
        new = records_after(h, before)
        check(len(new) == 1 and new[0]["action"] == f"{method} {pattern}" and new[0]["outcome"] == r.status
              and new[0]["path"] == path,
              f"{method} {pattern} (answered {r.status}) leaves exactly one record", new)

    before = head(h)
    r = h.request("POST", "/v1/templates", raw=b"x" * (2 << 20))
    new = records_after(h, before)
    check(r.status == 413 and len(new) == 1 and new[0]["action"] == "POST /v1/templates"
          and new[0]["outcome"] == 413 and "not read" in new[0]["diff"],
          "a body over the limit, refused before dispatch, still leaves one record naming its route", new)

    # ---- GET requests: none -------------------------------------------------------------
    before = head(h)
    gets = [p for m, p in routes if m == "GET"]
    for pattern in gets:
        path = pattern
        for k, v in params.items():
            path = path.replace(k, v)
        h.request("GET", path, stream=path.startswith("/v1/events"))
    check(head(h) == before, f"{len(gets)} GET requests (every GET route) leave no record")

    # ---- 401: one record, never the token -------------------------------------------------
    before = head(h)
    r = h.request("GET", "/v1/templates", headers={"Authorization": f"Bearer {TOKEN}"})
    new = records_after(h, before)
    check(r.status == 401 and len(new) == 1 and new[0]["outcome"] == 401 and new[0]["actor"]["user"] is None
          and new[0]["actor"]["method"] == "token" and new[0]["source"].startswith("unix:uid="),
          "a GET answered 401 leaves one record: no user, the method tried, the peer", new)
    before = head(h)
    r = h.request("POST", "/v1/templates", template, headers={"Authorization": f"Bearer {TOKEN}"})
    check(r.status == 401 and len(records_after(h, before)) == 1, "a POST answered 401 leaves exactly one record")

    # ---- what a record holds ----------------------------------------------------------------
    r = h.request("GET", "/v1/audit?action=POST%20/v1/workspaces&limit=1&order=desc")
    rec = r.json["records"][0] if r.status == 200 and r.json["records"] else {}
    keys = pubkey.split()
    check(rec.get("diff", {}).get("ssh_keys", [""])[0].startswith("ssh-ed25519 SHA256:")
          and keys[1] not in json.dumps(rec), "an SSH key is recorded as its fingerprint, not the key", rec)
    with open(audit_file) as f:
        text = f.read()
    rc, out = sqlite(db, "SELECT group_concat(body) FROM audit_log")
    check(TOKEN not in text and TOKEN not in out, "the bearer token is in neither the file nor the database")

    # ---- fail closed: a directory where the file was --------------------------------------------
    os.rename(audit_file, audit_file + ".1")
    os.mkdir(audit_file)
    r = h.request("POST", "/v1/templates", dict(template, name="audit-blocked"))
    check(r.status == 500 and "audit log unavailable" in r.error_message(),
          "with the audit file unwritable a mutating request is refused with 500", r)
    check(h.request("GET", "/v1/templates/audit-blocked").status == 404, "and was not carried out (nothing stored)")
    r = h.request("DELETE", "/v1/templates/audit-t1")
    check(r.status == 500 and h.request("GET", "/v1/templates/audit-t1").status == 200,
          "a refused delete leaves the template in place", r)
    check(h.request("GET", "/v1/templates").status == 200, "reads go on while the audit log is down")
    os.rmdir(audit_file)
    before_ok = head(h)
    r = h.request("POST", "/v1/templates", dict(template, name="audit-after"))
    new = records_after(h, before_ok)
    check(r.status == 201 and [x["outcome"] for x in new] == [500, 500, 201],
          "once the file can be written again, the refused requests' records come first, then the new one",
          [(x["action"], x["outcome"]) for x in new])
    bad, last = verify_jsonl([audit_file + ".1", audit_file])
    check(bad is None and last == head(h), "the old file and the new one verify as one chain", (bad, last))

    # ---- fail closed: chattr +i --------------------------------------------------------------------
    if subprocess.run(["chattr", "+i", audit_file], capture_output=True).returncode == 0:
        try:
            r = h.request("POST", "/v1/templates", dict(template, name="audit-immutable"))
            check(r.status == 500 and h.request("GET", "/v1/templates/audit-immutable").status == 404,
                  "with the audit file immutable (chattr +i) a push is refused and not stored", r)
        finally:
            subprocess.run(["chattr", "-i", audit_file])
        check(h.request("POST", "/v1/templates", dict(template, name="audit-mutable")).status == 201,
              "after chattr -i pushes work again")
    else:
        note("chattr +i is not supported on this file system: that case is not tested here")

    # ---- the file, offline: wsctl and the documented algorithm --------------------------------------
    first = audit_file + ".1"
    rc, out, err = wsctl(h, "audit", "verify", "--file", first, "--file", audit_file, "--db")
    check(rc == 0 and "the file and the database end with the same record" in out,
          "wsctl audit verify checks the files and the database, which end alike", out + err)
    with open(first) as f:
        last_line = f.read().splitlines()[-1]
    anchor = json.loads(last_line)
    rc, out, err = wsctl(h, "audit", "verify", "--file", audit_file, "--anchor", f"{anchor['seq']}:{anchor['hash']}")
    check(rc == 0 and "OK" in out, "the new file alone verifies from the anchor of the old one's last line", out + err)
    bad, last = verify_jsonl([first, audit_file])
    check(bad is None, "the Python algorithm of docs/audit.md verifies the file", (bad, last))
    copy = os.path.join(work, "edited.jsonl")
    with open(first) as f:
        lines = f.readlines()
    lines[2] = lines[2].replace('"outcome":', '"outcome":1', 1)
    with open(copy, "w") as f:
        f.writelines(lines)
    rc, out, err = wsctl(h, "audit", "verify", "--file", copy)
    check(rc == 1 and "record 3 is bad: hash mismatch" in err and verify_jsonl([copy]) == (3, "hash mismatch"),
          "a line edited in a copy of the file is named by wsctl and by the Python algorithm", err)

    # ---- wsctl audit list ------------------------------------------------------------------------------
    rc, out, err = wsctl(h, "--json", "audit", "list", "--action", "POST /v1/templates", "--limit", "1000")
    recs = json.loads(out)["records"] if rc == 0 else []
    check(recs and all(x["action"] == "POST /v1/templates" for x in recs), "audit list --action filters", out + err)
    rc, out, err = wsctl(h, "audit", "list", "--resource", "template/audit-after")
    check(rc == 0 and "template/audit-after" in out and "audit-t1" not in out, "audit list --resource filters",
          out + err)
    rc, out, err = wsctl(h, "audit", "list", "--actor", "root", "--since", "1h")
    rc2, out2, _ = wsctl(h, "audit", "list", "--actor", "nobody-else")
    check(rc == 0 and "root" in out and rc2 == 0 and "no audit records match" in out2,
          "audit list --actor and --since filter", out + err + out2)

    # ---- the database, edited and cut with the sqlite3 CLI -----------------------------------------------
    rc, out, err = wsctl(h, "audit", "verify")
    check(rc == 0 and "OK" in out, "before anyone touches it, the database's chain verifies", out + err)
    rc, original = sqlite(db, "SELECT body FROM audit_log WHERE seq = 5")
    rc, out = sqlite(db, "DROP TRIGGER audit_log_no_update;"
                         "UPDATE audit_log SET body = json_set(body, '$.outcome', 200) WHERE seq = 5")
    rc, out, err = wsctl(h, "audit", "verify", "--db")
    check(rc == 1 and "record 5 is bad: hash mismatch" in err, "a record edited in the database is named", err)
    sqlite(db, "UPDATE audit_log SET body = '%s' WHERE seq = 5" % original.strip().replace("'", "''"))
    rc, out, err = wsctl(h, "audit", "verify", "--db")
    check(rc == 0, "with the edit undone it verifies again", out + err)
    rc, out = sqlite(db, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 7")
    rc, out, err = wsctl(h, "audit", "verify", "--db")
    check(rc == 1 and "record 8 is bad: missing predecessor" in err,
          "a record deleted from the database is named through the record after it", err)
finally:
    h.cleanup()
    if not os.path.isdir(h.dir):
        shutil.rmtree(work, ignore_errors=True)

done()

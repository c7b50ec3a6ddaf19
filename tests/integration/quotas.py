#!/usr/bin/python3
"""quotas.py — quotas, host capacity and template groups against a real
hostd, over the API and through wsctl run as a member (a unix user made for
the test, in a group made for it). No guest boots: hostd's agent binary is
missing, so each admitted workspace fails at once at injection, before any
libguestfs launch; quotas are decided on the workspace rows whatever their
later fate (a failed workspace still counts its disk and the workspace
count, not its vCPUs). Checked: GET /v1/quotas/me with sources, PUT and
DELETE of user and group limits, the user's own limit over its group's,
refusals word for word (403) with no row left, a start admitted again under
the groups kept at create, the host's vCPU capacity (503), template groups
(403; admins bypass), and who may set limits."""
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, Hostd, check, done, note, test_ssh_key  # noqa: E402

tag = f"{os.getpid() % 100000}"
user, group = f"hdq{tag}", f"hdqg{tag}"
work = tempfile.mkdtemp(prefix="hostd-quotas-")
os.chmod(work, 0o755)
# The member runs its own copy: the checkout may sit under a directory only
# root may enter (mktemp -d makes it 0700).
member_wsctl = os.path.join(work, "wsctl")
shutil.copy(f"{BUILD}/wsctl", member_wsctl)
os.chmod(member_wsctl, 0o755)
_, pubkey = test_ssh_key(work)
keyfile = os.path.join(work, "id_ed25519.pub")
os.chmod(keyfile, 0o644)
image = os.path.join(work, "tiny.qcow2")
subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "1G"], check=True)
cpus = os.cpu_count() or 1

h = Hostd(f"agent_binary = {work}/no-such-agent\nsocket_mode = 0666\nvcpu_overcommit = 1\nmax_vcpus = 1024\n"
          "default_disk = 2G\n", name="quotas")
made_user = False


def expect(r, status, code, what, message=None):
    ok = r.status == status and r.error_code() == code and (message is None or r.error_message() == message)
    return check(ok, what, f"{r!r}\nwanted {status} {code} {message or ''}")


def wsctl(*args, as_user=True):
    """wsctl as the test's member (or as root), on this hostd's socket."""
    env = dict(os.environ, HOME=work, HOSTD_SOCKET=h.socket)
    cmd = [f"{BUILD}/wsctl", *args]
    if as_user:
        cmd = ["runuser", "-u", user, "--", "env", f"HOME={work}", f"HOSTD_SOCKET={h.socket}", member_wsctl, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout, r.stderr


def names():
    return sorted(w["name"] for w in h.request("GET", "/v1/workspaces").json["workspaces"])


try:
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["useradd", "-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", user], check=True)
    made_user = True
    h.start()
    r = h.request("POST", "/v1/images", {"name": "tiny", "path": image, "format": "qcow2"})
    check(r.status == 201, "a 1G qcow2 image is imported", r)
    create = ["create", "--image", "tiny", "--ssh-key", keyfile]

    # ---- limits set by an admin, seen by the member -----------------------------
    check(h.request("GET", "/v1/quotas").json == {"quotas": []}, "no limit is set at first")
    r = h.request("PUT", f"/v1/quotas/groups/{group}", {"workspaces": 1, "vcpus": 4, "gpus": {"H100": 2}})
    check(r.status == 200 and r.json["limits"] == {"workspaces": 1, "vcpus": 4, "gpus": {"H100": 2}}
          and r.json["scope"] == "group", "PUT /v1/quotas/groups/G sets the group's limits and returns them", r)
    expect(h.request("PUT", f"/v1/quotas/groups/{group}", {"vcpus": 4, "cpus": 2}), 400, "invalid",
           "an unknown limit is refused", "unknown field 'cpus'")
    expect(h.request("PUT", f"/v1/quotas/groups/{group}", {}), 400, "invalid", "an empty set of limits is refused")
    rc, out, err = wsctl("quota")
    check(rc == 0 and f"workspaces  0     1          group {group}" in out and "disk        0     unlimited  -" in out,
          "the member's wsctl quota shows the group's limits, its use and the source", out + err)

    # ---- admission by the workspace rows ------------------------------------------
    rc, out, err = wsctl(*create, "--vcpus", "1", "qa")
    check(rc == 0, "the member creates a workspace within its group's limits", out + err)
    state, ws, _ = h.wait_state("qa", ("failed",), 60)
    check(state == "failed" and "agent binary" in (ws or {}).get("reason", ""),
          "it fails at once (no agent binary), no guest booted", ws)
    rc, out, err = wsctl(*create, "--vcpus", "1", "qb")
    check(rc == 1 and err == f"wsctl: workspace quota: 1 in use + 1 requested > 1 (limit of group {group}); "
          "delete a workspace, or ask for a higher limit\n",
          "a second one is refused: the failed one still counts, the message names the group's limit", out + err)
    check(names() == ["qa"], "the refusal left no row")
    r = h.request("PUT", f"/v1/quotas/users/{user}", {"workspaces": 3})
    check(r.status == 200, "a limit set on the user itself", r)
    rc, out, err = wsctl(*create, "--vcpus", "5", "qb")
    check(rc == 1 and err.startswith(f"wsctl: vCPU quota: 0 in use + 5 requested > 4 (limit of group {group})"),
          "vCPUs of a failed workspace are not in use; the group's vCPU limit still applies", out + err)
    rc, out, err = wsctl(*create, "--vcpus", "1", "qb")
    check(rc == 0, "the user's own workspace limit (3) wins over the group's (1)", out + err)
    h.wait_state("qb", ("failed",), 60)
    rc, out, err = wsctl("quota", "--json")
    me = {(q["resource"], q.get("model")): q for q in json.loads(out)["quotas"]} if rc == 0 else {}
    check(me.get(("workspaces", None), {}).get("used") == 2 and me[("workspaces", None)]["limit"] == 3
          and me[("workspaces", None)]["source"] == {"scope": "user", "name": user}
          and me[("vcpus", None)]["source"] == {"scope": "group", "name": group}
          and me[("disk_gib", None)]["used"] == 4 and me[("gpus", "H100")]["limit"] == 2
          and me[("gpus", "any")]["limit"] is None,
          "GET /v1/quotas/me: use, limits and their source per resource", out + err)

    r = h.request("GET", "/v1/quotas/me", headers={"X-On-Behalf-Of": user})
    me = {(q["resource"], q.get("model")): q for q in (r.json or {}).get("quotas", [])}
    check(r.status == 200 and r.json["user"] == user and group in r.json["groups"]
          and me.get(("vcpus", None), {}).get("source") == {"scope": "group", "name": group},
          "an admin acting for the member (X-On-Behalf-Of) sees the member's groups and limits", r)
    rc, out, err = wsctl("--as", user, "--json", "quota", as_user=False)
    check(rc == 0 and json.loads(out)["user"] == user and group in json.loads(out)["groups"],
          "root's wsctl --as USER quota shows USER's quota", out + err)
    r = h.request("POST", "/v1/workspaces", {"name": "rootbox", "image": "tiny", "ssh_keys": [pubkey]})
    rc, out, err = wsctl("--as", user, "--json", "list", as_user=False)
    owners = {w["owner"] for w in json.loads(out)["workspaces"]} if rc == 0 else set()
    check(r.status == 202 and owners == {user},
          "wsctl --as USER list shows USER's workspaces only, not root's own", out + err)
    h.request("DELETE", "/v1/workspaces/rootbox")

    # ---- a start is admitted again -------------------------------------------------
    r = h.request("PUT", f"/v1/quotas/groups/{group}", {"workspaces": 1, "vcpus": 0, "gpus": {"H100": 2}})
    rc, out, err = wsctl("start", "qa")
    check(rc == 1 and err.startswith(f"wsctl: vCPU quota: 0 in use + 1 requested > 0 (limit of group {group})"),
          "starting a workspace is admitted again, under the groups kept when it was made", out + err)
    check(h.request("GET", "/v1/workspaces/qa").json["state"] == "failed", "the refused start changed nothing")

    # ---- an admin's own quota: status codes over HTTP --------------------------------
    check(h.request("PUT", "/v1/quotas/users/root", {"vcpus": 1}).status == 200, "root gets a limit too")
    expect(h.request("POST", "/v1/workspaces", {"name": "rootbox", "image": "tiny", "ssh_keys": [pubkey],
                                                "vcpus": 2}),
           403, "forbidden", "a quota refusal is 403 with the exact message",
           "vCPU quota: 0 in use + 2 requested > 1 (limit of user root); stop or delete a workspace, or ask for "
           "a higher limit")
    check(h.request("DELETE", "/v1/quotas/users/root").status == 204, "DELETE removes a user's limits")
    expect(h.request("DELETE", "/v1/quotas/users/root"), 404, "not_found", "deleting them twice is 404",
           "user root has no quota set")
    expect(h.request("POST", "/v1/workspaces", {"name": "bigbox", "image": "tiny", "ssh_keys": [pubkey],
                                                "vcpus": cpus + 1}),
           503, "no_resources", "more vCPUs than the host offers (vcpu_overcommit 1) is 503",
           f"host vCPU capacity: 0 in use + {cpus + 1} requested > {cpus} ({cpus} CPUs x vcpu_overcommit 1); "
           "try fewer vCPUs or later")
    check(names() == ["qa", "qb"], "refused requests left no row")

    # ---- who may set limits ----------------------------------------------------------
    rc, out, err = wsctl("quota", "set", "--user", user, "--vcpus", "64")
    check(rc == 1 and "your roles do not allow" in err, "a member cannot set limits (not even its own)", out + err)
    rc, out, err = wsctl("quota", "set", "--group", group, "--vcpus", "6", "--gpus", "any=1", as_user=False)
    check(rc == 0 and out == f"group {group}: workspaces=1 vcpus=6 gpus:any=1 gpus:H100=2\n",
          "an admin's wsctl quota set changes the limits named and keeps the others", out + err)
    rc, out, err = wsctl("quota", "unset", "--group", group, "--gpus", "H100", as_user=False)
    rc2, out2, err2 = wsctl("quota", "list", as_user=False)
    rows = [line.split() for line in out2.splitlines()]
    check(rc == 0 and rc2 == 0 and ["group", group, "workspaces=1", "vcpus=6", "gpus:any=1"] in rows
          and ["user", user, "workspaces=3"] in rows,
          "wsctl quota unset removes one limit; quota list shows every user and group", out + err + out2 + err2)

    # ---- template groups ---------------------------------------------------------------
    for name, groups in (("restricted", ["nobody-at-all"]), ("forgroup", [group])):
        r = h.request("POST", "/v1/templates", {"name": name, "image": "tiny", "vcpus": 1, "memory": "1G",
                                                "disk": "2G", "groups": groups})
        check(r.status == 201, f"template {name} for groups {groups} is pushed", r)
    rc, out, err = wsctl("create", "--template", "restricted", "--ssh-key", keyfile, "tr")
    check(rc == 1 and err == f"wsctl: template 'restricted' may only be used by members of group nobody-at-all, "
          f"and {user} is in none of them\n", "a template is refused to a user outside its groups", out + err)
    rc, out, err = wsctl("create", "--template", "forgroup", "--ssh-key", keyfile, "tg")
    check(rc == 0, "and allowed to a member of one of them", out + err)
    r = h.request("POST", "/v1/workspaces", {"name": "ta", "template": "restricted", "ssh_keys": [pubkey]})
    check(r.status == 202, "an admin uses any template", r)
    check(names() == ["qa", "qb", "ta", "tg"], "only the admitted requests made rows")
    # Deleted only once failed: a delete that overtakes the failing
    # provisioning job ends in failed, not deleted (jobs.c, reported).
    for w in ("ta", "tg"):
        h.wait_state(w, ("failed",), 60)
    for w in names():
        h.request("DELETE", f"/v1/workspaces/{w}")
    for w in ("qa", "qb", "ta", "tg"):
        h.wait_state(w, ("gone",), 60)
    rc, out, err = wsctl("quota", "--json")
    check(rc == 0 and all(q["used"] == 0 for q in json.loads(out)["quotas"]),
          "once deleted, the member uses nothing", out + err)

    # A delete that arrives while provisioning fails still deletes.
    gone = 0
    for i in range(5):
        r = h.request("POST", "/v1/workspaces", {"name": f"race{i}", "image": "tiny", "ssh_keys": [pubkey]})
        h.request("DELETE", f"/v1/workspaces/race{i}")
        state, ws, _ = h.wait_state(f"race{i}", ("gone", "failed"), 60)
        gone += state == "gone"
    check(gone == 5, "a delete sent while provisioning is failing ends deleted, never failed (5 of 5)", gone)
finally:
    h.cleanup()
    if made_user:
        subprocess.run(["userdel", user], capture_output=True)
    try:
        grp.getgrnam(group)
        subprocess.run(["groupdel", group], capture_output=True)
    except KeyError:
        pass
    shutil.rmtree(work, ignore_errors=True)
    try:
        pwd.getpwnam(user)
        note(f"user {user} could not be removed")
    except KeyError:
        pass
done()

#!/usr/bin/python3
"""wsctl_login.py — wsctl's HTTPS side, end to end, against hostd's own
HTTPS listener on loopback (its certificate from a test CA): wsctl login
with the bootstrap token, then token and user commands over HTTPS with the
bearer token; the server is verified against --ca (another CA is refused,
and hostd never sees the token), the token never leaves in clear (http://
is refused before anything connects), wsctl.conf is 0600 and refused when
others may read it, and wsctl logout goes back to the socket. What reached
hostd, and how, is read from hostd itself: its audit file (source
127.0.0.1:PORT, actor.method token) and the tokens' last_used_at."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, Hostd, TestCA, check, done, note  # noqa: E402

work = tempfile.mkdtemp(prefix="hostd-wsctl-login-")
ca = TestCA(work)
other_ca = TestCA(work, "other-ca")
port, listen = ca.https_listener()
h = Hostd(f"agent_binary = {work}/no-such-agent\n" + listen, name="wsctl-login").start()
url = f"https://localhost:{port}"

home = os.path.join(work, "home")
os.makedirs(home)
env = {k: v for k, v in os.environ.items() if k not in ("HOSTD_SOCKET", "XDG_CONFIG_HOME")}
env.update(HOME=home)
conf = os.path.join(home, ".config", "hostd", "wsctl.conf")
TCP = re.compile(r"127\.0\.0\.1:\d+")


def wsctl(*args, stdin=None):
    r = subprocess.run([f"{BUILD}/wsctl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def audit():
    """hostd's audit records (its JSONL file), oldest first: every mutating
    request and every 401, each with its source (ADDRESS:PORT over TCP)."""
    with open(os.path.join(h.dir, "audit.jsonl")) as f:
        return [json.loads(line) for line in f]


def over_tcp():
    return [r for r in audit() if TCP.fullmatch(r["source"] or "")]


def last_used(name):
    """last_used_at of the token called name, as hostd keeps it (asked over the socket as root)."""
    r = h.request("GET", "/v1/tokens?all=true")
    return next(t["last_used_at"] for t in r.json["tokens"] if t["name"] == name)


try:
    boot = os.path.join(h.dir, "state", "bootstrap-token")
    with open(boot) as f:
        token = f.read().strip()
    check(last_used("bootstrap") is None and not over_tcp(), "before login, hostd has seen neither the bootstrap "
          "token nor any request over TCP", audit())

    # hostd cannot witness this one: its TLS port never reads clear text as a
    # request. A bare listener can: nothing may even connect to it.
    plain = socket.create_server(("127.0.0.1", 0))
    plain.setblocking(False)
    rc, out, err = wsctl("login", "--server", f"http://localhost:{plain.getsockname()[1]}", "--token-file", boot)
    try:
        plain.accept()
        connected = True
    except BlockingIOError:
        connected = False
    plain.close()
    check(rc == 2 and "https://" in err and not connected,
          "login refuses http://: a token is never sent in clear (nothing connects)", err)
    rc, out, err = wsctl("login", "--server", url, "--ca", other_ca.pem, "--token-file", boot)
    check(rc == 3 and "cannot verify hostd" in err and not os.path.exists(conf),
          "a server whose certificate another CA signed is refused, and nothing is kept", err)
    check(last_used("bootstrap") is None and not over_tcp(),
          "and hostd never got the token (still unused; no request audited)", audit())
    rc, out, err = wsctl("login", "--server", url, "--ca", ca.pem, stdin=token + "\n")
    check(rc == 0 and f"logged in to {url} as admin" in out, "login with the token on stdin and the right CA", out + err)
    check(os.path.exists(conf) and (os.stat(conf).st_mode & 0o777) == 0o600, "wsctl.conf is mode 0600")
    # A request without the token would have been answered 401, and every 401 is audited.
    check(last_used("bootstrap") is not None and not over_tcp(),
          "every request carried the token as a bearer token (hostd used it; no 401)", audit())

    rc, out, err = wsctl("token", "create", "ops", "--expires", "1d")
    ops = out.strip()
    check(rc == 0 and ops.startswith("hdt_") and len(ops) == 47 and "only this once" in err,
          "token create over HTTPS prints the new token", out + err)
    tcp = over_tcp()
    last = tcp[-1] if tcp else {}
    check(last.get("action") == "POST /v1/tokens" and last.get("outcome") == 201 and
          last["actor"]["method"] == "token" and last["actor"]["credential"].endswith("(bootstrap)") and
          last["user_agent"].startswith("wsctl/"),
          "the request went to hostd over TCP (audit: source 127.0.0.1:PORT, the bootstrap token)", tcp)
    rc, out, err = wsctl("user", "create", "carol", "--roles", "member", "--email", "carol@example.org")
    check(rc == 0 and "carol@example.org" in out, "user create over HTTPS", out + err)
    rc, out, err = wsctl("token", "create", "--user", "carol", "carol-ci", "--read-only")
    carol = out.strip()
    check(rc == 0 and carol.startswith("hdt_"), "a token for carol", out + err)
    rc, out, err = wsctl("token", "list", "--all")
    check(rc == 0 and "carol-ci" in out and "read-only" in out and "bootstrap" in out, "token list --all", out + err)

    rc, out, err = wsctl("login", "--server", url, "--ca", ca.pem, stdin=carol + "\n")
    check(rc == 0 and "as carol" in out, "logging in again replaces the token", out + err)
    rc, out, err = wsctl("user", "list")
    check(rc == 1 and "roles do not allow" in err, "carol, a member, may not list users", out + err)
    rc, out, err = wsctl("token", "create", "more")
    check(rc == 1 and "read-only" in err, "and her read-only token makes no token", out + err)

    os.chmod(conf, 0o644)
    rc, out, err = wsctl("list")
    check(rc == 1 and "may be read by others" in err, "a wsctl.conf others may read is refused", err)
    rc, out, err = wsctl("logout")
    check(rc == 0 and not os.path.exists(conf), "logout removes it", out + err)
    n = len(over_tcp())
    rc, out, err = wsctl("--socket", h.socket, "token", "list")
    rc2, out2, err2 = wsctl("--socket", h.socket, "token", "create", "after-logout", "--expires", "1h")
    last = audit()[-1]
    check(rc == 0 and rc2 == 0 and len(over_tcp()) == n and last["action"] == "POST /v1/tokens" and
          last["source"] == "unix:uid=0" and last["actor"]["method"] == "unix",
          "logged out, wsctl uses the socket (root: admin; audit: source unix:uid=0)",
          f"{out}{err}{out2}{err2}{last}")
    with open(os.path.join(h.dir, "audit.jsonl")) as f:
        trail = f.read()
    check(all(t not in h.log() and t not in trail for t in (token, ops, carol)),
          "no token appears in hostd's log or audit file")
except Exception as e:
    check(False, "the test ran to its end", repr(e))
    note(h.log()[-2000:])
finally:
    h.cleanup()
    shutil.rmtree(work, ignore_errors=True)
done()

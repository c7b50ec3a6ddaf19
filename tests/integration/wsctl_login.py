#!/usr/bin/python3
"""wsctl_login.py — wsctl's HTTPS side, end to end: wsctl login with the
bootstrap token against an HTTPS front (a small TLS proxy on loopback, in
this test, that hands each request to a real hostd's unix socket unchanged),
then token and user commands over it with the bearer token; the server is
verified against --ca (another CA is refused), the token never leaves in
clear (http:// is refused), wsctl.conf is 0600 and refused when others may
read it, and wsctl logout goes back to the socket."""
import http.client
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, Hostd, check, done, note  # noqa: E402

work = tempfile.mkdtemp(prefix="hostd-wsctl-login-")
seen = []  # (method, path, the Authorization header's scheme) of each request the front got


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=work)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem")


make_ca("ca")
make_ca("other-ca")
openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
with open(os.path.join(work, "san.ext"), "w") as f:
    f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.pem")

h = Hostd(f"agent_binary = {work}/no-such-agent\n", name="wsctl-login").start()


class UnixConn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(h.socket)


class Front(http.server.BaseHTTPRequestHandler):
    """Hands the request to hostd's socket as it came (TLS ends here)."""

    def forward(self):
        auth = self.headers.get("Authorization", "")
        seen.append((self.command, self.path, auth.split(" ")[0]))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        c = UnixConn("localhost", timeout=30)
        c.request(self.command, self.path, body=body or None, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k in ("Content-Type", "WWW-Authenticate"):
            if r.getheader(k):
                self.send_header(k, r.getheader(k))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = do_POST = do_PATCH = do_DELETE = forward

    def log_message(self, *args):
        pass


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(work, "server.pem"), os.path.join(work, "server.key"))
front = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
front.socket = ctx.wrap_socket(front.socket, server_side=True)
threading.Thread(target=front.serve_forever, daemon=True).start()
url = f"https://localhost:{front.server_address[1]}"

home = os.path.join(work, "home")
os.makedirs(home)
env = {k: v for k, v in os.environ.items() if k not in ("HOSTD_SOCKET", "XDG_CONFIG_HOME")}
env.update(HOME=home)
conf = os.path.join(home, ".config", "hostd", "wsctl.conf")


def wsctl(*args, stdin=None):
    r = subprocess.run([f"{BUILD}/wsctl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


try:
    boot = os.path.join(h.dir, "state", "bootstrap-token")
    with open(boot) as f:
        token = f.read().strip()

    rc, out, err = wsctl("login", "--server", url.replace("https", "http"), "--token-file", boot)
    check(rc == 2 and "https://" in err and not seen, "login refuses http://: a token is never sent in clear",
          err)
    rc, out, err = wsctl("login", "--server", url, "--ca", os.path.join(work, "other-ca.pem"), "--token-file", boot)
    check(rc == 3 and "cannot verify hostd" in err and not os.path.exists(conf),
          "a server whose certificate another CA signed is refused, and nothing is kept", err)
    rc, out, err = wsctl("login", "--server", url, "--ca", os.path.join(work, "ca.pem"), stdin=token + "\n")
    check(rc == 0 and f"logged in to {url} as admin" in out, "login with the token on stdin and the right CA", out + err)
    check(os.path.exists(conf) and (os.stat(conf).st_mode & 0o777) == 0o600, "wsctl.conf is mode 0600")
    check(seen and all(s[2] == "Bearer" for s in seen), "every request carried the token as a bearer token", seen)

    n = len(seen)
    rc, out, err = wsctl("token", "create", "ops", "--expires", "1d")
    ops = out.strip()
    check(rc == 0 and ops.startswith("hdt_") and len(ops) == 47 and "only this once" in err,
          "token create over HTTPS prints the new token", out + err)
    check(len(seen) > n and seen[-1][:2] == ("POST", "/v1/tokens"), "the request went to the server")
    rc, out, err = wsctl("user", "create", "carol", "--roles", "member", "--email", "carol@example.org")
    check(rc == 0 and "carol@example.org" in out, "user create over HTTPS", out + err)
    rc, out, err = wsctl("token", "create", "--user", "carol", "carol-ci", "--read-only")
    carol = out.strip()
    check(rc == 0 and carol.startswith("hdt_"), "a token for carol", out + err)
    rc, out, err = wsctl("token", "list", "--all")
    check(rc == 0 and "carol-ci" in out and "read-only" in out and "bootstrap" in out, "token list --all", out + err)

    rc, out, err = wsctl("login", "--server", url, "--ca", os.path.join(work, "ca.pem"), stdin=carol + "\n")
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
    n = len(seen)
    rc, out, err = wsctl("--socket", h.socket, "token", "list")
    check(rc == 0 and len(seen) == n, "logged out, wsctl uses the socket (root: admin)", out + err)
    with open(h.log_path) as f:
        log = f.read()
    check(token not in log and ops not in log and carol not in log, "no token appears in hostd's log")
except Exception as e:
    check(False, "the test ran to its end", repr(e))
    note(h.log()[-2000:])
finally:
    front.shutdown()
    h.cleanup()
    shutil.rmtree(work, ignore_errors=True)
done()

#!/usr/bin/python3
"""oidc.py — OIDC bearer tokens against a real hostd, with a test identity
provider on loopback: an HTTPS server (Python's http.server with ssl, its
certificate from a test CA, hostdtest.TestCA) serving the JWKS, and
tokens signed by build/tests/oidc-sign with keys made by the openssl CLI.

Checks: no request reaches the IdP when OIDC is not configured, nor before
the first token; a token is accepted as its user (list, and a create that
gets past authentication); groups mapped to roles; expired, wrong-audience
and wrong-domain tokens refused with 401; key rotation (a new kid served by
the IdP is accepted after the reload); a flood of unknown kids causes at most
one fetch; the fetch itself refuses a host name mismatch, an unknown CA, a
redirect, an oversized body, an HTTP error and a server that does not answer
in time."""
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from hostdtest import BUILD, Hostd, TestCA, check, done, note, test_ssh_key  # noqa: E402

ISSUER = "https://idp.test/realms/lab"
SIGN = os.path.join(BUILD, "tests", "oidc-sign")
FETCH = os.path.join(BUILD, "tests", "oidc-fetch")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class IdP:
    """A JWKS over HTTPS on 127.0.0.1, certificate for DNS:localhost only."""

    def __init__(self, work):
        ca = TestCA(work)
        self.ca = ca.pem
        cert, key = ca.server_cert("localhost", san="DNS:localhost")
        self.jwks = {"keys": []}
        self.hits = 0
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/jwks":
                    idp.hits += 1
                    self.send(200, json.dumps(idp.jwks).encode(), [("Content-Type", "application/json")])
                elif self.path == "/redirect":
                    self.send(302, b"", [("Location", "/jwks")])
                elif self.path == "/big":
                    self.send(200, b"{" + b" " * (300 * 1024) + b"}")
                elif self.path == "/slow":
                    time.sleep(7)
                    self.send(200, b"{}")
                else:
                    self.send(404, b"no")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path="/jwks", host="localhost"):
        return f"https://{host}:{self.port}{path}"


def keypair(work, name, kind):
    path = os.path.join(work, name + ".pem")
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    return path


def jwk(key, kid):
    return json.loads(subprocess.run([SIGN, "jwk", key, kid], check=True, capture_output=True, text=True).stdout)


def token(key, kid, **changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": ["hostd", "account"], "sub": "0b7c5a51-6f0e-4c1a-9d0e-2f6a9e3b1c44",
              "preferred_username": "alice", "email": "alice@example.com", "email_verified": True,
              "groups": ["/staff"], "exp": now + 300, "iat": now - 5}
    claims.update(changes)
    out = subprocess.run([SIGN, "token", key, kid, json.dumps(claims)], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


def fetch(url, ca=None):
    r = subprocess.run([FETCH, url] + ([ca] if ca else []), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr.strip()


work = tempfile.mkdtemp(prefix="hostd-oidc-")
idp = IdP(work)
k1, k2 = keypair(work, "k1", "rsa"), keypair(work, "k2", "ec")
idp.jwks = {"keys": [jwk(k1, "k1")]}
_, pubkey = test_ssh_key(work)
plain = oidc = None

try:
    # ---- OIDC not configured: a JWT is refused and the IdP never hears of it.
    plain = Hostd(name="oidc-off").start()
    r = plain.request("GET", "/v1/workspaces", headers=bearer(token(k1, "k1")))
    check(r.status == 401 and "OIDC is not configured" in r.error_message(),
          "without oidc_issuer a JWT is refused with 401 saying OIDC is off", r)
    check(idp.hits == 0, "without OIDC configured no request goes to the IdP", idp.hits)
    plain.cleanup()
    plain = None

    oidc = Hostd(f"""oidc_issuer = {ISSUER}
oidc_audience = hostd
oidc_jwks_url = {idp.url()}
oidc_ca_file = {idp.ca}
oidc_jwks_refresh_min = 2s
oidc_role_map = ml-admins=admin, platform=template-admin
oidc_email_domains = example.com
""", name="oidc").start()
    check(idp.hits == 0, "hostd does not fetch the keys before the first token", idp.hits)

    # ---- a good token is its user --------------------------------------------
    good = token(k1, "k1")
    r = oidc.request("GET", "/v1/workspaces", headers=bearer(good))
    check(r.status == 200, "GET /v1/workspaces with a good RS256 token is 200", r)
    check(idp.hits == 1, "the first token fetched the JWKS once", idp.hits)
    r = oidc.request("POST", "/v1/workspaces", {"name": "oidcbox", "image": "no-such-image", "ssh_keys": [pubkey]},
                     headers=bearer(good))
    check(r.status == 422 and r.error_code() == "unusable_image",
          "a create with the token passes authentication and authorization (422 for the missing image, not 401)", r)
    r = oidc.request("GET", "/v1/workspaces", headers=bearer(good))
    check(r.status == 200 and idp.hits == 1, "later tokens of a known kid use the cached keys", (r, idp.hits))

    # ---- groups and roles ------------------------------------------------------
    r = oidc.request("POST", "/v1/templates", {}, headers=bearer(good))
    check(r.status == 403, "a member (no mapped group) may not push templates", r)
    r = oidc.request("POST", "/v1/templates", {}, headers=bearer(token(k1, "k1", groups=["/platform"])))
    check(r.status == 400, "a member of platform is a template-admin (the push gets to body checks)", r)
    r = oidc.request("GET", "/v1/workspaces", headers={**bearer(good), "X-On-Behalf-Of": "bob"})
    check(r.status == 403, "a member may not act on behalf of another user", r)
    r = oidc.request("GET", "/v1/workspaces", headers={**bearer(token(k1, "k1", groups=["ml-admins"])),
                                                         "X-On-Behalf-Of": "bob"})
    check(r.status == 200, "a member of ml-admins is an admin (may act on behalf of bob)", r)

    # ---- refused tokens ----------------------------------------------------------
    for what, t, why in [
        ("an expired token", token(k1, "k1", exp=int(time.time()) - 3600), "expired"),
        ("a token for another audience", token(k1, "k1", aud="grafana"), "aud does not name hostd"),
        ("a token of another issuer", token(k1, "k1", iss="https://evil.test/"), "not issued by"),
        ("user@example.com.evil", token(k1, "k1", email="alice@example.com.evil"), "not allowed"),
    ]:
        r = oidc.request("GET", "/v1/workspaces", headers=bearer(t))
        check(r.status == 401 and why in r.error_message(), f"{what} is refused with 401 ({why})", r)

    # ---- key rotation and the reload rate limit --------------------------------
    time.sleep(2.1)
    new = token(k2, "k2")
    hits = idp.hits
    r = oidc.request("GET", "/v1/workspaces", headers=bearer(new))
    check(r.status == 401 and "kid k2 is not among" in r.error_message() and idp.hits == hits + 1,
          "a kid the IdP does not serve yet is refused after one reload", (r, idp.hits - hits))
    idp.jwks = {"keys": [jwk(k1, "k1"), jwk(k2, "k2")]}
    time.sleep(2.1)
    r = oidc.request("GET", "/v1/workspaces", headers=bearer(new))
    check(r.status == 200 and idp.hits == hits + 2,
          "after the IdP adds the key, a token of the new kid (ES256) is accepted after one reload",
          (r, idp.hits - hits))
    hits = idp.hits
    start = time.time()
    codes = set()
    for i in range(30):
        codes.add(oidc.request("GET", "/v1/workspaces", headers=bearer(token(k1, f"random-{i}"))).status)
    took = time.time() - start
    check(codes == {401} and idp.hits - hits <= 1,
          f"30 tokens with made-up kids are refused and fetch the JWKS at most once ({took:.1f} s)",
          (codes, idp.hits - hits))
    r = oidc.request("GET", "/v1/workspaces", headers=bearer(good))
    check(r.status == 200, "the old key still works after rotation", r)
    oidc.cleanup()
    oidc = None

    # ---- the fetch itself ----------------------------------------------------------
    rc, out, err = fetch(idp.url(), idp.ca)
    check(rc == 0 and json.loads(out)["keys"], "the fetch gets the JWKS over HTTPS with the test CA", err)
    rc, _, err = fetch(idp.url(host="127.0.0.1"), idp.ca)
    check(rc == 1 and "not trusted" in err and "mismatch" in err,
          "a certificate that does not name the URL's host is refused", err)
    note(err)
    rc, _, err = fetch(idp.url())
    check(rc == 1 and "not trusted" in err, "a certificate of a CA not in oidc_ca_file is refused", err)
    rc, _, err = fetch(idp.url("/redirect"), idp.ca)
    check(rc == 1 and "redirects are not followed" in err, "a redirect is not followed", err)
    rc, _, err = fetch(idp.url("/big"), idp.ca)
    check(rc == 1 and "larger than" in err, "a response over the size cap is refused", err)
    rc, _, err = fetch(idp.url("/nothing"), idp.ca)
    check(rc == 1 and "HTTP 404" in err, "an HTTP error status is refused", err)
    start = time.time()
    rc, _, err = fetch(idp.url("/slow"), idp.ca)
    took = time.time() - start
    check(rc == 1 and "timed out" in err and took < 6.5, f"a server that does not answer in time: {took:.1f} s", err)
    rc, _, err = fetch(f"http://localhost:{idp.port}/jwks")
    check(rc == 1 and "only https://" in err, "plain http is refused", err)
finally:
    for h in (plain, oidc):
        if h:
            h.cleanup()
    idp.httpd.shutdown()
    shutil.rmtree(work, ignore_errors=True)
note(f"IdP served {idp.hits} JWKS requests")
done()

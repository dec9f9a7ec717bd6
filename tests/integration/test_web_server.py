"""web-server, the web UI's server, as a real process: every security header on every kind of
answer, the files byte for byte, ETag/304, 405 and 404, request targets that try to leave the
folder (dot segments, encoded, absolute paths and URLs) never do, and bad configuration exits 2.
Needs no stack: the server reads no Kafka, Redis or gateway."""

import json
import os
import re
import socket
import subprocess
import tempfile

import pytest
import requests

from aggtest import REPO, schemas, wait_until

SANITIZER_ERROR = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer")
FILES = {"/": "index.html", "/index.html": "index.html", "/app.css": "app.css",
         "/app.js": "app.js"}
TYPES = {"index.html": "text/html; charset=utf-8", "app.css": "text/css; charset=utf-8",
         "app.js": "text/javascript; charset=utf-8"}
GATEWAYS = "http://127.0.0.1:18080 https://api.example.org"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' http://127.0.0.1:18080 https://api.example.org; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
SECURITY = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Resource-Policy": "same-origin"}


def binary():
    return os.path.join(os.environ.get("AGG_BUILD_DIR", "build"), "web-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_file(name):
    with open(os.path.join(REPO, "web", name), "rb") as f:
        return f.read()


@pytest.fixture(scope="session", autouse=True)
def _tap_started():
    """Replaces the suite's Kafka tap for this module: it needs no stack."""
    return None


@pytest.fixture(scope="module")
def server():
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="web-server-", suffix=".log", delete=False)
    env = dict(os.environ, WEB_PORT=str(port), BIND_ADDR="127.0.0.1",
               WEB_ROOT=os.path.join(REPO, "web"), WEB_CONNECT_SRC=GATEWAYS)
    proc = subprocess.Popen([binary()], env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port

    def up():
        if proc.poll() is not None:
            return "exited"
        try:
            return requests.get(base + "/actuator/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False
    assert wait_until(up, 30, "web-server's health") is True, open(log.name).read()
    yield base, port
    proc.terminate()
    assert proc.wait(10) == 0
    text = open(log.name, errors="replace").read()
    assert not SANITIZER_ERROR.search(text), text
    os.unlink(log.name)


def raw(port, request):
    """Sends request bytes as they are (no client normalises the path) and returns (status,
    headers dict, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers, body


def assert_security(headers):
    """Every security header once, with its value; headers as requests gives them."""
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, headers.get(name))
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers.get("Cache-Control")
    # Served over http: a browser ignores HSTS there, and it must not pin a plain host.
    assert "Strict-Transport-Security" not in headers


def test_every_file_byte_for_byte_with_every_header(server):
    base, _ = server
    for path, name in FILES.items():
        r = requests.get(base + path, timeout=5)
        assert r.status_code == 200
        assert r.content == web_file(name)
        assert r.headers["Content-Type"] == TYPES[name]
        assert r.headers["Cache-Control"] == "no-cache"
        assert re.fullmatch(r'"[0-9a-f]{16}"', r.headers["ETag"])
        assert_security(r.headers)
        h = requests.head(base + path, timeout=5)
        assert h.status_code == 200 and h.content == b""
        assert h.headers["Content-Length"] == str(len(web_file(name)))
        assert h.headers["ETag"] == r.headers["ETag"]
        assert_security(h.headers)


def test_each_header_once(server):
    _, port = server
    status, headers, _ = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    for name in list(SECURITY) + ["Permissions-Policy", "Cache-Control", "Content-Type"]:
        assert len(headers.get(name.lower(), [])) == 1, (name, headers.get(name.lower()))


def test_if_none_match_gives_304_with_the_headers(server):
    base, _ = server
    etag = requests.get(base + "/app.js", timeout=5).headers["ETag"]
    r = requests.get(base + "/app.js", headers={"If-None-Match": etag}, timeout=5)
    assert r.status_code == 304 and r.content == b""
    assert r.headers["ETag"] == etag
    assert_security(r.headers)
    r = requests.get(base + "/app.js", headers={"If-None-Match": '"0000000000000000"'}, timeout=5)
    assert r.status_code == 200 and r.content == web_file("app.js")
    other = requests.get(base + "/app.css", headers={"If-None-Match": etag}, timeout=5)
    assert other.status_code == 200


def test_health(server):
    base, _ = server
    for path in ("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness"):
        r = requests.get(base + path, timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "UP"}
        schemas().check_component("Health", r.json(), "web-server.openapi.yaml")
        assert r.headers["Cache-Control"] == "no-store"
        assert_security(r.headers)


def test_other_methods_get_405_with_allow(server):
    base, _ = server
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for path in ("/", "/app.js", "/nope"):
            r = requests.request(method, base + path, timeout=5)
            assert r.status_code == 405, (method, path)
            assert r.headers["Allow"] == "GET, HEAD"
            assert r.json()["error"] == "method_not_allowed"
            schemas().check_component("Error", r.json(), "web-server.openapi.yaml")
            assert_security(r.headers)


# Request targets that would reach outside web/ (or files of web/ that are not the UI's) on a
# server that maps paths to the file system.
ESCAPES = [
    b"/../web/index.html", b"/../../../../../../etc/passwd", b"/..%2f..%2f..%2fetc%2fpasswd",
    b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"/%252e%252e/etc/passwd", b"/..\\..\\etc\\passwd",
    b"//etc/passwd", b"/etc/passwd", b"/./app.js/../../README.md", b"/app.js/..", b"/.",
    b"/README.md", b"/package.json", b"/Dockerfile", b"/tests/harness.mjs", b"/app.js%00.txt",
    b"/app.js%2f", b"/%2fetc%2fpasswd", b"/proc/self/environ", b"/.git/config",
    b"http://127.0.0.1/etc/passwd", b"file:///etc/passwd", b"/index.html/", b"/APP.JS",
]


@pytest.mark.parametrize("target", ESCAPES, ids=lambda t: t.decode())
def test_no_request_target_leaves_the_ui_files(server, target):
    _, port = server
    status, headers, body = raw(
        port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if target == b"/app.js%00.txt":
        # libmicrohttpd decodes the path before the server sees it, and the decoded %00 ends
        # the string: "/app.js". Still only a UI file, never anything else.
        assert status == 200 and body == web_file("app.js")
        return
    assert status in (400, 404), status
    assert b"root:" not in body and b"[core]" not in body
    for name in ("README.md", "package.json", "Dockerfile"):
        assert web_file(name)[:40] not in body
    if status == 404:
        assert b'"error":"not_found"' in body
        schemas().check_component("Error", json.loads(body), "web-server.openapi.yaml")
        assert headers["content-security-policy"] == [CSP]


def test_bad_configuration_exits_2_with_one_line():
    cases = [
        ({"WEB_CONNECT_SRC": "http://x/path"}, "WEB_CONNECT_SRC"),
        ({"WEB_CONNECT_SRC": "http://x; script-src *"}, "WEB_CONNECT_SRC"),
        ({"WEB_CONNECT_SRC": "*"}, "WEB_CONNECT_SRC"),
        ({"WEB_ROOT": "/nonexistent-web-root"}, "WEB_ROOT"),
        ({"WEB_ROOT": os.path.join(REPO, "docs")}, "index.html"),
        ({"WEB_PORT": "0"}, "WEB_PORT"),
        ({"WEB_PORT": "x"}, "WEB_PORT"),
    ]
    for env, word in cases:
        full = dict(os.environ, WEB_ROOT=os.path.join(REPO, "web"), WEB_PORT=str(free_port()))
        full.update(env)
        p = subprocess.run([binary()], env=full, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=20)
        assert p.returncode == 2, (env, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and word in lines[0], (env, p.stderr)


def test_help_lists_the_environment():
    out = subprocess.run([binary(), "--help"], capture_output=True, text=True, timeout=10).stdout
    for name in ("WEB_PORT", "BIND_ADDR", "WEB_ROOT", "WEB_CONNECT_SRC"):
        assert name in out

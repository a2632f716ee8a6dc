"""deploy/nginx/nginx.conf, run by a real nginx (config/local_nginx.py) in front of a
stand-in for gunicorn that holds every request until the test lets it go: past 8 API
checkouts in flight nginx refuses the next one itself, with the app's 503 OVERLOADED
and Retry-After, and it never reaches the app; confirms are never refused there; the
app's own 503s pass through as the app wrote them."""

import json
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from config.local_nginx import NGINX, local_nginx_command, local_nginx_conf
from tests.processes import Process
from tests.sandbox import free_port

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(not shutil.which(NGINX), reason="no nginx here (apt install nginx)"),
]

CHECKOUT_CAP = 8  # deploy/nginx/nginx.conf: limit_conn checkouts


class Upstream(ThreadingHTTPServer):
    """Answers /healthz at once; holds every POST until `release` is set."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.seen: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: Upstream

    def do_GET(self):
        self.answer(200, {"status": "ok"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen.append(self.path)
        if self.headers.get("X-Answer") == "503":
            self.answer(503, {"code": "GATEWAY_UNAVAILABLE"}, retry_after="5")
            return
        self.server.release.wait(30)
        self.answer(201, {"path": self.path})

    def answer(self, status: int, body: dict, retry_after: str | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def front():
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="nginx-"))
    port = free_port()
    upstream_url = f"http://127.0.0.1:{upstream.server_address[1]}"
    conf = local_nginx_conf(listen_port=port, upstream=upstream_url, work=work)
    (work / "nginx.conf").write_text(conf)
    (work / "logs").mkdir()  # nginx opens its default error log before reading the conf
    nginx = Process(local_nginx_command(work))
    base = f"http://127.0.0.1:{port}"
    try:
        nginx.wait_for(lambda: _answers(f"{base}/healthz"), timeout=10, what="nginx")
        yield base, upstream
    finally:
        upstream.release.set()
        nginx.stop()
        upstream.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def until(check, what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def hold(base: str, path: str, count: int) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=requests.post, args=(f"{base}{path}",), kwargs={"json": {}})
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def test_past_the_cap_nginx_refuses_a_checkout_itself_and_the_app_never_sees_it(front):
    base, upstream = front
    held = hold(base, "/api/v1/payments/checkout", CHECKOUT_CAP)
    until(lambda: len(upstream.seen) == CHECKOUT_CAP, "the cap of checkouts held")

    refused = requests.post(f"{base}/api/v1/payments/checkout", json={}, timeout=5)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["code"] == "OVERLOADED" and refused.json()["reason"] == "proxy"
    assert len(upstream.seen) == CHECKOUT_CAP
    upstream.release.set()
    for thread in held:
        thread.join(10)
    after = requests.post(f"{base}/api/v1/payments/checkout", json={}, timeout=5)
    assert after.status_code == 201  # the slots are back


def test_confirms_are_never_refused_by_nginx(front):
    base, upstream = front
    held = hold(base, "/api/v1/payments/confirm", CHECKOUT_CAP + 4)

    until(lambda: len(upstream.seen) == CHECKOUT_CAP + 4, "every confirm at the app")
    upstream.release.set()
    for thread in held:
        thread.join(10)


def test_the_apps_own_503_passes_through_as_the_app_wrote_it(front):
    base, _ = front

    answer = requests.post(
        f"{base}/api/v1/payments/checkout", json={}, headers={"X-Answer": "503"}, timeout=5
    )

    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json() == {"code": "GATEWAY_UNAVAILABLE"}


def test_the_local_copy_changes_only_addresses_paths_and_if_asked_the_cap(tmp_path):
    conf = local_nginx_conf(
        listen_port=8123, upstream="http://127.0.0.1:9", work=tmp_path, checkout_cap=5
    )

    assert "listen 127.0.0.1:8123;" in conf and "set $web http://127.0.0.1:9;" in conf
    assert "limit_conn checkouts 5;" in conf and "limit_conn checkouts 8;" not in conf
    assert "proxy_request_buffering on;" in conf and "client_body_timeout 10s;" in conf

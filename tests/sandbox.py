"""The PG sandbox as a real process, and a thin raw-HTTP client for tests."""

import base64
import json
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.processes import Process

SECRET = "test_sk_contract_suite"
OTHER_SECRET = "test_sk_second_merchant"
LIVE_SECRET = "live_sk_contract_suite"
CLIENT_KEY = "test_ck_contract_suite"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(
    *extra: str,
    secrets: tuple[str, ...] = (SECRET, OTHER_SECRET, LIVE_SECRET),
    client_keys: tuple[str, ...] = (CLIENT_KEY,),
) -> tuple[Process, str]:
    port = free_port()
    keys = [arg for s in secrets for arg in ("--toss-secret-key", s)]
    keys += [arg for c in client_keys for arg in ("--toss-client-key", c)]
    process = Process(
        [sys.executable, "manage.py", "run_pg_sandbox", "--port", str(port), *keys, *extra],
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{base}/sandbox/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    process.wait_for(healthy, timeout=30, what="the sandbox to answer")
    return process, base


def basic(secret: str, colon: bool = True) -> str:
    raw = f"{secret}:" if colon else secret
    return "Basic " + base64.b64encode(raw.encode()).decode()


class TossSandbox:
    """A thin test client: raw HTTP, so the tests pin the wire contract itself."""

    def __init__(self, base: str, process: Process, secret: str = SECRET):
        self.base, self.process, self.secret = base, process, secret
        self.http = requests.Session()

    def new_order_id(self) -> str:
        return f"order-{uuid.uuid4().hex[:16]}"

    def call(
        self,
        method: str,
        path: str,
        *,
        secret: str | None = None,
        key: str | None = None,
        headers: dict | None = None,
        timeout: float = 10,
        **kwargs,
    ) -> requests.Response:
        all_headers = {"Authorization": basic(secret or self.secret)}
        if key is not None:
            all_headers["Idempotency-Key"] = key
        all_headers.update(headers or {})
        return self.http.request(
            method, f"{self.base}/toss{path}", headers=all_headers, timeout=timeout, **kwargs
        )

    def confirm(self, payment_key: str, order_id: str, amount, **kwargs) -> requests.Response:
        body = {"paymentKey": payment_key, "orderId": order_id, "amount": amount}
        return self.call("POST", "/v1/payments/confirm", json=body, **kwargs)

    def cancel(self, payment_key: str, body: dict, **kwargs) -> requests.Response:
        return self.call("POST", f"/v1/payments/{payment_key}/cancel", json=body, **kwargs)

    def get(self, payment_key: str, **kwargs) -> requests.Response:
        return self.call("GET", f"/v1/payments/{payment_key}", **kwargs)

    def get_order(self, order_id: str, **kwargs) -> requests.Response:
        return self.call("GET", f"/v1/payments/orders/{order_id}", **kwargs)

    def authorize(self, order_id: str, amount: int, **extra) -> str:
        response = self.http.post(
            f"{self.base}/sandbox/toss/authorize",
            json={"orderId": order_id, "amount": amount, **extra},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()["paymentKey"]

    def paid(self, amount: int = 15000, **extra) -> tuple[str, str]:
        """An approved payment: (orderId, paymentKey)."""
        order_id = self.new_order_id()
        key = self.authorize(order_id, amount, **extra)
        assert self.confirm(key, order_id, amount).status_code == 200
        return order_id, key

    def fault(self, **spec) -> dict:
        response = self.http.put(
            f"{self.base}/sandbox/faults", json={"gateway": "toss", **spec}, timeout=5
        )
        assert response.status_code == 201, response.text
        return response.json()

    def replay_errors(self, on: bool = True) -> None:
        """Make the sandbox a Toss that stores transient 4xx answers under their key."""
        url = f"{self.base}/sandbox/toss/settings"
        assert self.http.put(url, json={"replayErrors": on}, timeout=5).json() == {
            "replayErrors": on
        }

    def advance(self, seconds: float) -> None:
        assert self.http.post(
            f"{self.base}/sandbox/clock/advance", json={"seconds": seconds}, timeout=5
        ).ok

    def record(self, order_id: str) -> dict:
        return self.http.get(f"{self.base}/sandbox/toss/payments/{order_id}", timeout=5).json()

    def requests_for(self, order_id: str, operation: str | None = None) -> list[dict]:
        params = {"orderId": order_id, **({"operation": operation} if operation else {})}
        return self.http.get(f"{self.base}/sandbox/requests", params=params, timeout=5).json()[
            "requests"
        ]

    def webhooks(self, url: str, **options) -> None:
        response = self.http.put(
            f"{self.base}/sandbox/webhooks",
            json={"gateway": "toss", "url": url, **options},
            timeout=5,
        )
        assert response.ok, response.text

    def deliveries(self, order_id: str) -> list[dict]:
        return self.http.get(
            f"{self.base}/sandbox/webhooks", params={"orderId": order_id}, timeout=5
        ).json()["deliveries"]


class Receiver:
    """A webhook endpoint: records every POST; answers with the queued statuses, then 200."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.received.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/toss"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

"""The NicePay sandbox over HTTP: lookups, cancels, net-cancel, auth, webhooks.

Each test names the scenario it covers (docs/sandbox.md, Scenarios).
"""

import base64
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.conf import settings

from gateways.nicepay.client import NicePayClient, sign

pytestmark = pytest.mark.processes
KST = timezone(timedelta(hours=9))


@pytest.fixture
def nice(sandbox):
    config = settings.PAYMENT_GATEWAYS["nicepay"]
    client = NicePayClient(
        api_base=f"{sandbox.base}/nicepay",
        client_key=config["CLIENT_KEY"],
        secret_key=config["SECRET_KEY"],
        connect_timeout=1,
        read_timeout=5,
    )
    client.sandbox = sandbox
    return client


def paid(nice, amount=10000) -> tuple[str, str]:
    order_id = f"nice-{time.monotonic_ns()}"
    tid = requests.post(
        f"{nice.sandbox.base}/sandbox/nicepay/authorize",
        json={"orderId": order_id, "amount": amount},
        timeout=5,
    ).json()["tid"]
    assert nice.approve(tid=tid, order_id=order_id, amount=amount).body["resultCode"] == "0000"
    return order_id, tid


def test_n1_the_approval_answer_is_signed_and_complete(nice):
    order_id = f"nice-{time.monotonic_ns()}"
    auth = requests.post(
        f"{nice.sandbox.base}/sandbox/nicepay/authorize",
        json={"orderId": order_id, "amount": 15000},
        timeout=5,
    ).json()
    assert auth["authResultCode"] == "0000"
    assert auth["signature"] == sign(auth["authToken"], auth["clientId"], 15000, nice.secret_key)

    body = nice.approve(tid=auth["tid"], order_id=order_id, amount=15000).body

    assert (body["resultCode"], body["status"], body["balanceAmt"]) == ("0000", "paid", 15000)
    assert body["failedAt"] == "0" and body["cancelledAt"] == "0" and body["paidAt"] != "0"
    assert body["signature"] == sign(body["tid"], 15000, body["ediDate"], nice.secret_key)


def test_n5_lookups_by_tid_and_by_order_id_with_its_date(nice):
    order_id, tid = paid(nice)
    today = datetime.now(KST).strftime("%Y%m%d")

    assert nice.get(tid).body["status"] == "paid"
    assert nice.find(order_id, today).body["tid"] == tid
    assert nice.find(order_id, "20000101").body["resultCode"] == "A118"
    no_date = nice.http.session.get(
        f"{nice.http.base_url}/v1/payments/find/{order_id}", headers=nice._headers, timeout=5
    )
    assert no_date.json()["resultCode"] == "A100"
    assert nice.get("no-such-tid").body["resultCode"] == "A118"


def test_n6_cancels(nice):
    order_id, tid = paid(nice)

    partial = nice.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-1", reason="부분", amount=3000
    ).body
    reused = nice.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-1", reason="again", amount=1000
    ).body
    beyond = nice.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-2", reason="x", amount=8000
    ).body
    rest = nice.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-3", reason="나머지", amount=None
    ).body
    again = nice.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-4", reason="x", amount=None
    ).body

    assert (partial["resultCode"], partial["status"], partial["balanceAmt"]) == (
        "2001",
        "partialCancelled",
        7000,
    )
    assert partial["cancelledTid"] and partial["cancelledTid"] != tid
    assert reused["resultCode"] == "2012"
    assert beyond["resultCode"] == "2032"
    assert (rest["status"], rest["balanceAmt"]) == ("cancelled", 0)
    assert again["resultCode"] == "2013"


def test_n4_net_cancel_within_the_hour_and_not_after(nice):
    order_id, _ = paid(nice)
    late_order, _ = paid(nice)

    assert nice.netcancel(order_id=order_id).body["status"] == "cancelled"
    nice.sandbox.advance(3601)
    assert nice.netcancel(order_id=late_order).body["resultCode"] == "2020"


def test_n7_bad_credentials_and_bad_signatures(nice):
    _, tid = paid(nice)
    bad = base64.b64encode(b"S2_wrong:nope").decode()

    unauthorised = requests.get(
        f"{nice.http.base_url}/v1/payments/{tid}",
        headers={"Authorization": f"Basic {bad}"},
        timeout=5,
    )
    forged = requests.post(
        f"{nice.http.base_url}/v1/payments/{tid}",
        headers=nice._headers,
        timeout=5,
        json={"amount": 10000, "ediDate": "2026-01-01T00:00:00+09:00", "signData": "0" * 64},
    )
    malformed = requests.post(
        f"{nice.http.base_url}/v1/payments/{tid}",
        headers=nice._headers,
        timeout=5,
        data=b"{not json",
    )

    assert unauthorised.status_code == 401 and unauthorised.json()["resultCode"] == "U304"
    assert forged.json()["resultCode"] == "A100"
    assert malformed.json()["resultCode"] == "A100"


def test_n8_a_webhook_counts_only_when_answered_ok(nice):
    answers = ["NOT OK", "OK"]
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = answers.pop(0).encode() if answers else b"OK"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        requests.put(
            f"{nice.sandbox.base}/sandbox/webhooks",
            timeout=5,
            json={
                "gateway": "nicepay",
                "url": f"http://127.0.0.1:{server.server_address[1]}/hook",
                "retryMinutes": [1],
            },
        )
        order_id, _ = paid(nice)
        url = f"{nice.sandbox.base}/sandbox/webhooks"

        def attempts() -> list[dict]:
            found = requests.get(url, params={"orderId": order_id}, timeout=5).json()["deliveries"]
            return found[0]["attempts"] if found else []

        deadline = time.monotonic() + 5
        while len(attempts()) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        nice.sandbox.advance(60)
        while len(attempts()) < 2 and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        deliveries = requests.get(
            f"{nice.sandbox.base}/sandbox/webhooks", params={"orderId": order_id}, timeout=5
        ).json()["deliveries"]
    finally:
        server.shutdown()
        server.server_close()

    assert received[0]["status"] == "paid" and received[0]["orderId"] == order_id
    assert [a["ok"] for a in deliveries[0]["attempts"]] == [False, True]

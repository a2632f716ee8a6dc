from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import requests
from django.db import connections
from django.utils import timezone

from payments.models import PaymentEvent, PaymentHistory
from payments.services import settle


def checkout(client, items: list[tuple[int, int]], gateway: str = "toss", **headers):
    body = {"gateway": gateway, "items": [{"productId": p, "quantity": q} for p, q in items]}
    return client.post("/api/v1/payments/checkout", body, format="json", **headers)


def confirm(client, order_id: str, payment_key: str, amount):
    body = {"orderId": order_id, "paymentKey": payment_key, "amount": amount}
    return client.post("/api/v1/payments/confirm", body, format="json")


ASYNC = {"HTTP_PREFER": "respond-async"}


def confirm_async(client, order_id, payment_key, amount, **headers):
    body = {"orderId": order_id, "paymentKey": payment_key, "amount": amount}
    return client.post("/api/v1/payments/confirm", body, format="json", **ASYNC, **headers)


def authorized(member_client, sandbox, product, quantity=1):
    answer = checkout(member_client, [(product.id, quantity)]).json()
    return answer["orderId"], sandbox.authorize(answer["orderId"], 5000 * quantity)


def transitions(order_id: str) -> list[tuple[str, str]]:
    event = PaymentEvent.objects.get(order_id=order_id)
    return list(
        PaymentHistory.objects.filter(event=event)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


def pg_confirms(sandbox, order_id: str) -> list[dict]:
    """What the PG was asked to confirm for this order (from the sandbox's own log)."""
    return sandbox.requests_for(order_id, "confirm")


def point_gateway_at_sandbox(settings, sandbox, gateway: str) -> None:
    """Send the app's calls for this gateway to the test sandbox, with a short read timeout."""
    gateways = {**settings.PAYMENT_GATEWAYS}
    gateways[gateway] = {
        **gateways[gateway],
        "API_BASE": f"{sandbox.base}/{gateway}",
        "READ_TIMEOUT": 1.5,
    }
    settings.PAYMENT_GATEWAYS = gateways


def unknown_payment(member_client, sandbox, product, **fault) -> PaymentEvent:
    """A payment the confirm left UNKNOWN (the fault decides what the PG really did)."""
    answer = checkout(member_client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 5000)
    rule = sandbox.fault(operation="confirm", orderId=answer["orderId"], count=1, **fault)
    assert confirm(member_client, answer["orderId"], payment_key, 5000).status_code == 202
    sandbox.http.delete(f"{sandbox.base}/sandbox/faults/{rule['id']}")
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    return event


@contextmanager
def restore_left_owed():
    """As if the process died right after a FAILURE's commit, before its immediate stock
    restore: the job stays PROCESSING for the periodic retry."""
    with mock.patch.object(settle, "compensation_restore_for", return_value=False):
        yield


def in_threads(count: int, workers: int, call):
    """Run call(i) count times on `workers` threads, each with its own DB connection."""

    def run(i):
        try:
            return call(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(count)))


def window_key(sandbox, gateway: str, answer: dict) -> str:
    """What the buyer's window hands the shop for its confirm."""
    if gateway == "toss":
        return sandbox.authorize(answer["orderId"], answer["amount"])
    if gateway == "nicepay":
        body = {"orderId": answer["orderId"], "amount": answer["amount"]}
        return requests.post(
            f"{sandbox.base}/sandbox/nicepay/authorize", json=body, timeout=5
        ).json()["tid"]
    tid = parse_qs(urlsplit(answer["redirectUrl"]).query)["tid"][0]
    return requests.post(
        f"{sandbox.base}/sandbox/kakaopay/authorize", json={"tid": tid}, timeout=5
    ).json()["pg_token"]

"""Helpers for the refund tests: a paid order through any PG, a cancel, and what the PG's
own record says was cancelled."""

import requests

from ledger.models import Account
from payments.models import PaymentEvent
from payments.services.relay import relay_book_many, relay_claim
from tests.payments.helpers import confirm, window_key


def cancel(client, order_id: str, body: dict | None = None, **headers):
    return client.post(f"/api/v1/payments/{order_id}/cancel", body or {}, format="json", **headers)


def paid(client, sandbox, items, gateway="toss", points=0) -> PaymentEvent:
    body = {
        "gateway": gateway,
        "items": [{"productId": p, "quantity": q} for p, q in items],
        "pointsToUse": points,
    }
    answer = client.post("/api/v1/payments/checkout", body, format="json").json()
    if answer["amount"]:
        key = window_key(sandbox, gateway, answer)
        done = confirm(client, answer["orderId"], key, answer["amount"])
        assert done.json()["status"] == "SUCCESS", done.content
    return PaymentEvent.objects.get(order_id=answer["orderId"])


def relay_all() -> dict:
    return relay_book_many(message_ids=relay_claim(owner="test", limit=1000))


def balance(code: str) -> int:
    account = Account.objects.filter(code=code).first()
    return account.balance if account else 0


def pg_cancelled(sandbox, event: PaymentEvent) -> list[int]:
    """The cancels the PG's own record holds for the order, oldest first."""
    url = f"{sandbox.base}/sandbox/{event.gateway}/payments/{event.order_id}"
    record = requests.get(url, timeout=5).json()
    if event.gateway == "toss":
        return [c["cancelAmount"] for c in record.get("cancels") or []]
    if event.gateway == "nicepay":
        return [c["amount"] for c in record.get("cancels") or []]
    actions = record.get("payment_action_details") or []
    return [a["amount"] for a in actions if a["payment_action_type"] == "CANCEL"]


def fault(sandbox, event: PaymentEvent, **spec) -> None:
    """A fault rule on this order's calls to its own gateway (the sandbox's control API)."""
    sandbox.http.put(
        f"{sandbox.base}/sandbox/faults",
        json={"gateway": event.gateway, "orderId": event.order_id, **spec},
        timeout=5,
    ).raise_for_status()

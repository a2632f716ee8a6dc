"""The crash and outage tests' shop: a client that keeps trying through crashes and
outages, as a browser's shop page would, and buys through every PG."""

import random
import re
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import requests

from products.models import Product
from tests.crash.stack import Stack

GATEWAYS = ("toss", "nicepay", "kakaopay")
REFUND_ACCOUNT = {"bank": "88", "accountNumber": "110123456789", "holderName": "김구매"}


class Shop:
    """A client that keeps trying through crashes, as a browser's shop page would."""

    def __init__(self, stack: Stack, sandbox, tokens: list[str], products: list[Product]):
        self.stack, self.sandbox, self.tokens, self.products = stack, sandbox, tokens, products
        self.lost = Counter()

    def call(
        self, path: str, token: str, body: dict, headers: dict | None = None
    ) -> requests.Response:
        deadline = time.monotonic() + 60  # the web server may be down for a moment
        last = None
        while time.monotonic() < deadline:
            try:
                response = requests.post(
                    f"{self.stack.base}{path}",
                    json=body,
                    timeout=10,
                    headers={"Authorization": f"Token {token}", **(headers or {})},
                )
                # 409 CHECKOUT_IN_PROGRESS: the first try still waits for the PG's ready.
                busy = response.status_code == 409 and "CHECKOUT_IN_PROGRESS" in response.text
                if response.status_code < 500 and not busy:
                    return response
                last = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                last = repr(exc)[:200]
            self.lost[re.sub(r"/payments/[^/]+/cancel$", "/payments/{orderId}/cancel", path)] += 1
            time.sleep(0.25)
        raise AssertionError(f"{path} never answered; last: {last}")

    def pay_in_window(self, gateway: str, answer: dict) -> str:
        """What the buyer's window gives the shop for its confirm call."""
        base = self.sandbox.base
        if gateway == "toss" and answer.get("method") == "VIRTUAL_ACCOUNT":
            # The buyer picks 가상계좌: an account open for an hour of the sandbox's clock.
            return self.sandbox.authorize(
                answer["orderId"], answer["amount"], method="VIRTUAL_ACCOUNT", validHours=1
            )
        if gateway == "toss":
            return self.sandbox.authorize(answer["orderId"], answer["amount"])
        if gateway == "nicepay":
            body = {"orderId": answer["orderId"], "amount": answer["amount"]}
            return requests.post(f"{base}/sandbox/nicepay/authorize", json=body, timeout=5).json()[
                "tid"
            ]
        tid = parse_qs(urlsplit(answer["redirectUrl"]).query)["tid"][0]
        return requests.post(
            f"{base}/sandbox/kakaopay/authorize", json={"tid": tid}, timeout=5
        ).json()["pg_token"]

    def cart(self, i: int, rng: random.Random, gateway: str) -> dict:
        """A sixth each: a point top-up, goods partly and goods wholly paid with points."""
        if i % 6 == 0:
            return {
                "gateway": gateway,
                "purpose": "POINT_CHARGE",
                "amount": rng.randint(1, 20) * 1000,
            }
        product, quantity = rng.choice(self.products), rng.randint(1, 3)
        body = {"gateway": gateway, "items": [{"productId": product.id, "quantity": quantity}]}
        total = product.price * quantity
        if i % 6 == 1:
            body["pointsToUse"] = rng.randint(1, total - 1)
        elif i % 6 == 2:
            body["pointsToUse"] = total
        elif gateway == "toss" and i % 6 == 3:
            body["method"] = "VIRTUAL_ACCOUNT"  # half of them paid in (deposit), half expire
        return body

    def buy(self, i: int) -> None:
        rng = random.Random(i)
        token = self.tokens[i % len(self.tokens)]
        gateway = GATEWAYS[i % len(GATEWAYS)]
        body = self.cart(i, rng, gateway)
        answer = self.call(
            "/api/v1/payments/checkout", token, body, {"Idempotency-Key": f"cart-{i}"}
        ).json()
        if answer["status"] == "SUCCESS":
            return  # paid with points: no PG window, no confirm
        payment_key = self.pay_in_window(gateway, answer)
        confirm = {
            "orderId": answer["orderId"],
            "paymentKey": payment_key,
            "amount": answer["amount"],
        }
        # Every other confirm is asynchronous: 202 at once, a worker calls the PG.
        headers = {"Prefer": "respond-async"} if i % 2 else None
        self.call("/api/v1/payments/confirm", token, confirm, headers)
        if body.get("method") == "VIRTUAL_ACCOUNT":
            if (i // 6) % 2:
                return  # never paid in: it expires once the sandbox's clock passes its due date
            self.deposit(answer["orderId"], token)
        if i % 4 == 3 or i % 12 == 0:  # a quarter of the orders, and a sixth of the top-ups
            self.refund(i, token, answer["orderId"], body, rng)

    def deposit(self, order_id: str, token: str) -> None:
        """The buyer transfers to the account once it is issued (the confirm may have left
        it in doubt for recovery to finish); the deposit watch then finds the money."""
        if self.outcome(order_id, token) != "AWAITING_DEPOSIT":
            return
        url = f"{self.sandbox.base}/sandbox/toss/deposit"
        answer = requests.post(url, json={"orderId": order_id}, timeout=5)
        assert answer.status_code == 200, answer.text

    def late_deposit(self, order_id: str, token: str) -> None:
        """The buyer pays into an account after it expired: the PG takes the money, we
        refund it (nothing was sold), and the refund waits for the bank account the buyer
        gives with a cancel, as often as it is asked for (a refusal asks again)."""
        url = f"{self.sandbox.base}/sandbox/toss/deposit"
        answer = requests.post(url, json={"orderId": order_id, "late": True}, timeout=5)
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 90
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            statuses = self.refund_statuses(order_id, token)
            if "SUCCEEDED" in statuses:
                return
            if "AWAITING_ACCOUNT" in statuses:
                body = {"reason": "늦은 입금 환불", "refundReceiveAccount": REFUND_ACCOUNT}
                self.call(f"/api/v1/payments/{order_id}/cancel", token, body)
            elif not statuses and time.monotonic() - quiet_since > 5:
                # The deposit's notice met a web server being killed: the PG sends it again
                # a minute later on its clock (moved on only for that).
                self.sandbox.advance(61)
                quiet_since = time.monotonic()
            time.sleep(0.25)
        raise AssertionError(f"{order_id}: the late deposit was never refunded")

    def refund_statuses(self, order_id: str, token: str) -> list[str]:
        try:
            response = requests.get(
                f"{self.stack.base}/api/v1/payments/{order_id}",
                timeout=10,
                headers={"Authorization": f"Token {token}"},
            )
        except requests.RequestException:
            self.lost["/api/v1/payments/{orderId}"] += 1
            return []
        return [r["status"] for r in response.json()["refunds"]] if response.ok else []

    def refund(self, i: int, token: str, order_id: str, cart: dict, rng: random.Random) -> None:
        """Once the order is paid: in full, one unit, or part of its amount (a third each);
        a virtual account's money goes back to the buyer's bank account."""
        waiting = ("EXECUTING", "UNKNOWN", "AWAITING_DEPOSIT")
        if self.outcome(order_id, token, waiting=waiting) != "SUCCESS":
            return
        kind = (i // 4) % 3
        if kind == 1 and cart.get("items"):
            body = {"items": [{"productId": cart["items"][0]["productId"], "quantity": 1}]}
        elif kind == 2:
            body = {"amount": rng.randint(1, 900)}
        else:
            body = {}
        body["reason"] = f"crash test {i}"
        if cart.get("method") == "VIRTUAL_ACCOUNT":
            body["refundReceiveAccount"] = REFUND_ACCOUNT
        key = {"Idempotency-Key": f"refund-{i}"}
        self.call(f"/api/v1/payments/{order_id}/cancel", token, body, key)

    def outcome(
        self, order_id: str, token: str, waiting: tuple = ("EXECUTING", "UNKNOWN")
    ) -> str | None:
        """The payment's status once it left `waiting` (None if it never did)."""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                response = requests.get(
                    f"{self.stack.base}/api/v1/payments/{order_id}",
                    timeout=15,
                    headers={"Authorization": f"Token {token}", "Prefer": "wait=5"},
                )
                if response.ok and response.json()["status"] not in waiting:
                    return response.json()["status"]
            except requests.RequestException:
                self.lost["/api/v1/payments/{orderId}"] += 1
            time.sleep(0.25)
        return None

    def pay(self, i: int, gateway: str) -> tuple[str, str]:
        """One unit of a product through `gateway`, confirmed synchronously (the confirm
        may end in doubt); (orderId, the buyer's token)."""
        token = self.tokens[i % len(self.tokens)]
        product = self.products[i % len(self.products)]
        body = {"gateway": gateway, "items": [{"productId": product.id, "quantity": 1}]}
        answer = self.call(
            "/api/v1/payments/checkout", token, body, {"Idempotency-Key": f"pay-{gateway}-{i}"}
        ).json()
        confirm = {
            "orderId": answer["orderId"],
            "paymentKey": self.pay_in_window(gateway, answer),
            "amount": answer["amount"],
        }
        self.call("/api/v1/payments/confirm", token, confirm)
        return answer["orderId"], token

    def refund_all(self, i: int, token: str, order_id: str) -> None:
        key = {"Idempotency-Key": f"refund-all-{i}"}
        self.call(f"/api/v1/payments/{order_id}/cancel", token, {}, key)

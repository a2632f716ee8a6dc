"""The books through real processes: gunicorn, a Celery worker and beat book every
top-up through each PG, through recovery and through a webhook; two relay workers, one
killed with -9 halfway, book every outbox row exactly once."""

import signal
import time
import uuid

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.celery_app import app
from ledger import accounts
from ledger.check import ledger_check
from ledger.models import Account, JournalEntry
from members.models import Member
from payments.models import OutboxMessage, PaymentEvent, PaymentOrder
from tests.crash.stack import Stack
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import window_key
from tests.processes import ready_celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

TOP_UP = 50000


class Buyer:
    def __init__(self, stack: Stack):
        self.member = MemberFactory()
        self.headers = {"Authorization": f"Token {Token.objects.create(user=self.member).key}"}
        self.base = stack.base

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=30)

    def balance(self) -> int:
        url = f"{self.base}/api/v1/members/me"
        return requests.get(url, headers=self.headers, timeout=10).json()["pointBalance"]

    def top_up(self, sandbox, gateway: str) -> tuple[str, requests.Response]:
        body = {"gateway": gateway, "purpose": "POINT_CHARGE", "amount": TOP_UP}
        answer = self.post("/api/v1/payments/checkout", body).json()
        confirm = {
            "orderId": answer["orderId"],
            "paymentKey": window_key(sandbox, gateway, answer),
            "amount": TOP_UP,
        }
        return answer["orderId"], self.post("/api/v1/payments/confirm", confirm)

    def wait_for_balance(self, points: int, timeout: float = 20) -> float:
        """Seconds until GET /members/me says `points`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.balance() == points:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"balance {self.balance()}, not {points}, after {timeout} s")


def credited_once(order_id: str, member: Member) -> None:
    assert JournalEntry.objects.filter(reference=order_id).count() == 1
    entry = JournalEntry.objects.get(reference=order_id)
    assert entry.kind == "TOP_UP_PAID"
    assert {(p.account.code, p.amount) for p in entry.postings.select_related("account")} == {
        (accounts.pg_receivable(PaymentEvent.objects.get(order_id=order_id).gateway), TOP_UP),
        (accounts.member_points(member.pk), -TOP_UP),
    }
    assert PaymentEvent.objects.get(order_id=order_id).is_payment_done


def test_a_top_up_is_credited_once_through_each_pg_recovery_and_a_webhook(sandbox):
    # Recovery waits for the test to call a payment due, so a webhook can get there first.
    stack = Stack(sandbox.base, RECOVERY_FIRST_DELAY_SECONDS="3600")
    stack.start()
    seconds = {}
    try:
        for gateway in ("toss", "nicepay", "kakaopay"):
            buyer = Buyer(stack)
            order_id, answer = buyer.top_up(sandbox, gateway)
            assert answer.json()["status"] == "SUCCESS", answer.text
            seconds[gateway] = buyer.wait_for_balance(TOP_UP)
            credited_once(order_id, buyer.member)

        # Recovery: the PG approved, its answer was lost; recovery finds the approval.
        buyer = Buyer(stack)
        sandbox.fault(operation="confirm", count=1, timeout=True, commit=True, holdSeconds=3)
        order_id, answer = buyer.top_up(sandbox, "toss")
        assert answer.status_code == 202 and buyer.balance() == 0
        PaymentEvent.objects.filter(order_id=order_id).update(next_attempt_at=timezone.now())
        seconds["recovery"] = buyer.wait_for_balance(TOP_UP)
        credited_once(order_id, buyer.member)

        # A webhook: the answer was lost after the approval; the PG's DONE notice settles it.
        sandbox.webhooks(f"{stack.base}/api/v1/webhooks/toss")
        buyer = Buyer(stack)
        sandbox.fault(operation="confirm", count=1, dropResponseAfterCommit=True)
        order_id, answer = buyer.top_up(sandbox, "toss")
        assert answer.status_code == 202
        seconds["webhook"] = buyer.wait_for_balance(TOP_UP)
        credited_once(order_id, buyer.member)
        assert PaymentEvent.objects.get(order_id=order_id).history.last().actor == "webhook"
        time.sleep(3)  # more relay scans: still credited once
        assert buyer.balance() == TOP_UP
    finally:
        stack.stop()
    print(f"\n  top-up credited after: { {k: round(v, 1) for k, v in seconds.items()} } s")
    assert ledger_check().ok


# --- two relays, one killed ---------------------------------------------------------------

ROWS = 1500


def successes(count: int) -> list[int]:
    """`count` SUCCESS goods payments of 1,000 KRW with their LEDGER rows PENDING."""
    product = ProductFactory(price=1000, stock=10)
    buyer = MemberFactory()
    run = uuid.uuid4().hex[:6]
    events = PaymentEvent.objects.bulk_create(
        PaymentEvent(
            order_id=f"ord-relay-{run}-{i}",
            buyer=buyer,
            gateway="toss",
            order_name="relay",
            total_amount=1000,
            status="SUCCESS",
            payment_key=f"pk-relay-{run}-{i}",
            pg_idempotency_key=f"key-relay-{run}-{i}",
        )
        for i in range(count)
    )
    events = list(PaymentEvent.objects.filter(order_id__startswith=f"ord-relay-{run}-"))
    PaymentOrder.objects.bulk_create(
        PaymentOrder(
            event=e, product=product, seller=product.seller, quantity=1, amount=1000, commission=100
        )
        for e in events
    )
    OutboxMessage.objects.bulk_create(OutboxMessage(event=e, kind="LEDGER") for e in events)
    return [e.pk for e in events]


def test_two_relays_and_a_kill_9_book_every_row_exactly_once(settings):
    successes(ROWS)
    seller = PaymentOrder.objects.values_list("seller_id", flat=True).first()
    queue = f"relay-{uuid.uuid4().hex[:8]}"
    env = {"OUTBOX_LEASE_SECONDS": "3", "OUTBOX_TASK_ROWS": "50", "CELERY_QUEUE": queue}
    workers = [ready_celery_worker(queue, **env), ready_celery_worker(queue, **env)]
    scan = app.signature("payments.outbox_scan", queue=queue)
    done = OutboxMessage.objects.filter(kind="LEDGER", status="DONE")
    killed = False
    try:
        deadline = time.monotonic() + 120
        while done.count() < ROWS and time.monotonic() < deadline:
            scan.apply_async()
            if not killed and done.count() > ROWS // 5:
                workers[0].stop(signal.SIGKILL)  # in the middle of its batch
                killed = True
                workers[0] = ready_celery_worker(queue, **env)
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.stop()
    assert killed
    assert done.count() == ROWS
    assert JournalEntry.objects.filter(kind="GOODS_PAID").count() == ROWS
    assert Account.objects.get(code="pg_receivable:toss").balance == 1000 * ROWS
    assert Account.objects.get(code=accounts.seller_payable(seller)).balance == -900 * ROWS
    assert Account.objects.get(code=accounts.COMMISSION).balance == -100 * ROWS
    assert PaymentEvent.objects.filter(is_payment_done=True).count() == ROWS
    report = ledger_check()
    assert report.ok, report.problems

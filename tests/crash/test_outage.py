"""A long outage of one PG: real web, worker, beat and sandbox.

Toss answers every call with a 5xx for longer than the whole recovery budget (a shortened
schedule: attempts after 1, 2, 4, 8 and 16 s, so 31 s of budget against a 40-s outage,
the way 5 minutes of outage compare with the real schedule's first steps). Meanwhile
buyers keep paying through all three PGs and refunding earlier Toss orders. Then Toss
comes back. What must hold (docs/design.md, "When a PG is down, or replays its errors"):

- NicePay and KakaoPay are not affected: their payments settle during the outage, their
  own in-doubt payments included;
- no Toss payment or refund spends its budget on the outage (none NEEDS_ATTENTION, no
  attempt counter at the end of the schedule), and Toss is asked about them only by a few
  probes per scan, not once per payment per backoff;
- within two recovery intervals of Toss's return, every payment and refund is settled.
"""

import time
from collections import Counter

import pytest
import requests
from rest_framework.authtoken.models import Token

from payments.models import GatewayHealth, PaymentEvent, PaymentHistory, Refund
from tests.crash.shop import GATEWAYS, Shop
from tests.crash.stack import TIMINGS, Stack
from tests.factories import MemberFactory, ProductFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

SCHEDULE = [1, 2, 4, 8, 16]
OUTAGE_SECONDS = 40
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED", "PARTIAL_CANCELED"}
IN_DOUBT = {"REQUESTED", "EXECUTING", "UNKNOWN"}


def toss_calls(sandbox) -> int:
    url = f"{sandbox.base}/sandbox/requests"
    params = {"gateway": "toss", "limit": 100_000}
    return len(requests.get(url, params=params, timeout=10).json()["requests"])


def test_a_long_outage_of_one_gateway_spends_no_budget_and_settles_within_two_intervals(
    sandbox,
):
    products = [ProductFactory(stock=1000, price=1000) for _ in range(3)]
    tokens = [Token.objects.create(user=MemberFactory()).key for _ in range(6)]
    stack = Stack(sandbox.base, RECOVERY_BACKOFF_SECONDS=",".join(map(str, SCHEDULE)))
    stack.start()
    try:
        shop = Shop(stack, sandbox, tokens, products)
        paid_before = [shop.pay(i, "toss") for i in range(6)]
        assert all(shop.outcome(order, token) == "SUCCESS" for order, token in paid_before)

        before = toss_calls(sandbox)
        sandbox.fault(operation="*", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")
        started = time.monotonic()
        # NicePay payments whose answers are lost: in doubt on a gateway that is up.
        sandbox.http.put(
            f"{sandbox.base}/sandbox/faults",
            json={
                "gateway": "nicepay",
                "operation": "approve",
                "dropResponseAfterCommit": True,
                "count": 3,
            },
            timeout=5,
        ).raise_for_status()
        during = [shop.pay(100 + i, gateway) for i in range(8) for gateway in GATEWAYS]
        for n, (order, token) in enumerate(paid_before):
            shop.refund_all(n, token, order)
        others = [
            PaymentEvent.objects.get(order_id=order)
            for order, _ in during
            if PaymentEvent.objects.get(order_id=order).gateway != "toss"
        ]
        # The other PGs' payments settle while Toss is down, those in doubt included.
        deadline = time.monotonic() + 3 * float(TIMINGS["RECOVERY_INTERVAL_SECONDS"]) + 10
        while time.monotonic() < deadline:
            if all(e.status == "SUCCESS" for e in _fresh(others)):
                break
            time.sleep(0.2)
        others_settled = time.monotonic() - started
        assert Counter(e.status for e in _fresh(others)) == {"SUCCESS": len(others)}
        assert others_settled < OUTAGE_SECONDS

        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
        toss = list(PaymentEvent.objects.filter(gateway="toss", status__in=["UNKNOWN"]))
        refunds = list(Refund.objects.filter(status__in=IN_DOUBT))
        health = GatewayHealth.objects.get(gateway="toss")
        calls_during = toss_calls(sandbox) - before
        assert not PaymentHistory.objects.filter(to_status="NEEDS_ATTENTION").exists()
        assert not Refund.objects.filter(status="NEEDS_ATTENTION").exists()
        assert len(toss) == 8 and len(refunds) == 6
        assert max(e.retry_count for e in toss + refunds) < len(SCHEDULE)
        assert health.state == "DOWN"

        sandbox.http.delete(f"{sandbox.base}/sandbox/faults", timeout=5)
        returned = time.monotonic()
        settled = _wait_until_settled(timeout=60)
        calls_after = toss_calls(sandbox) - before - calls_during
    finally:
        stack.stop()

    interval = float(TIMINGS["RECOVERY_INTERVAL_SECONDS"])
    scans = OUTAGE_SECONDS / interval + 1
    # The buyers' own calls (a confirm and a cancel, each tried 3 times), and at most the
    # probes of each scan (each probe: a lookup, and a re-confirm or re-cancel).
    budget = 3 * (8 + 6) + scans * 2 * 2 * 2
    print(
        f"\n  outage test: toss down {OUTAGE_SECONDS} s (budget {sum(SCHEDULE)} s); "
        f"nicepay and kakaopay settled {others_settled:.1f} s into it; "
        f"toss in doubt at its return: {len(toss)} payments, {len(refunds)} refunds; "
        f"toss calls during the outage {calls_during} (bound {budget:.0f}), "
        f"after it {calls_after}; settled {settled - returned:.1f} s after toss returned "
        f"({(settled - returned) / interval:.2f} recovery intervals of {interval:.0f} s)"
    )
    assert calls_during <= budget
    assert calls_after <= 4 * (len(toss) + len(refunds))
    assert settled - returned <= 2 * interval + 1.0
    assert Counter(e.status for e in _fresh(toss)) == {"SUCCESS": len(toss)}
    assert Counter(r.status for r in Refund.objects.all()) == {"SUCCEEDED": 6}
    assert not PaymentHistory.objects.filter(to_status="NEEDS_ATTENTION").exists()


def _fresh(events: list[PaymentEvent]) -> list[PaymentEvent]:
    return list(PaymentEvent.objects.filter(pk__in=[e.pk for e in events]))


def _wait_until_settled(timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (
            PaymentEvent.objects.exclude(status__in=TERMINAL).exists()
            or Refund.objects.filter(status__in=IN_DOUBT).exists()
        ):
            return time.monotonic()
        time.sleep(0.1)
    left = Counter(
        PaymentEvent.objects.exclude(status__in=TERMINAL).values_list("status", flat=True)
    )
    raise AssertionError(f"not settled after {timeout} s: {left}")

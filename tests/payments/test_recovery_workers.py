"""Two recovery workers (real processes) over 500 UNKNOWN payments at once."""

import subprocess
import sys
import uuid

import pytest
from django.utils import timezone

from payments.models import PaymentEvent, Purpose
from tests.factories import MemberFactory
from tests.processes import ROOT, child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes]

COUNT = 500


def test_two_workers_never_work_one_payment_and_ask_the_pg_once_each(sandbox):
    buyer = MemberFactory()
    events = []
    for _ in range(COUNT):
        order_id = f"ord-{uuid.uuid4().hex[:20]}"
        key = sandbox.authorize(order_id, 1000)
        assert sandbox.confirm(key, order_id, 1000).status_code == 200  # approved; we never heard
        events.append(
            PaymentEvent(
                order_id=order_id,
                buyer=buyer,
                gateway="toss",
                order_name="포인트 충전",
                total_amount=1000,
                purpose=Purpose.POINT_CHARGE,
                payment_key=key,
                status="UNKNOWN",
                pg_idempotency_key=uuid.uuid4().hex,
                next_attempt_at=timezone.now(),
            )
        )
    PaymentEvent.objects.bulk_create(events)
    sandbox.fault(operation="lookup", latencyMs=[5, 30])  # enough to make the two overlap
    env = child_env(TOSS_API_BASE=f"{sandbox.base}/toss", LOG_LEVEL="WARNING")
    command = [sys.executable, "manage.py", "recover_payments", "--limit", "50"]

    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]

    assert [w.returncode for w in workers] == [0, 0]
    done = [int(out.strip().splitlines()[-1].split()[0]) for out in outputs]
    assert sum(done) == COUNT  # together they did each payment once
    assert PaymentEvent.objects.filter(status="SUCCESS").count() == COUNT
    lookups = sandbox.http.get(
        f"{sandbox.base}/sandbox/requests", params={"operation": "lookup", "limit": 10_000}
    ).json()["requests"]
    per_order = {}
    for entry in lookups:
        per_order[entry["orderId"]] = per_order.get(entry["orderId"], 0) + 1
    assert len(per_order) == COUNT and set(per_order.values()) == {1}
    print(f"\n  two workers recovered {done} payments; one PG lookup each")

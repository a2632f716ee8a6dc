"""payments/services/recovery.py: in-doubt payments reach the PG's truth; leases, batches."""

import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.models import CompensationJob, PaymentEvent, PaymentHistory, Purpose
from payments.services.recovery import (
    new_lease_owner,
    recovery_attempt,
    recovery_attempt_many,
    recovery_claim,
)
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, unknown_payment
from tests.processes import ROOT, child_env

pytestmark = pytest.mark.processes


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def recover(capsys=None) -> str:
    call_command("recover_payments")
    return capsys.readouterr().out if capsys else ""


@pytest.mark.django_db
def test_an_approval_whose_answer_was_lost_becomes_success(member_client, sandbox, product, capsys):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    out = recover(capsys)

    event.refresh_from_db()
    assert event.status == "SUCCESS" and event.approved_at is not None
    assert f"{event.order_id}: did SUCCESS -> SUCCESS" in out
    assert set(event.outbox.values_list("kind", flat=True)) == {"LEDGER"}
    assert (event.lease_owner, event.lease_until) == ("", None)
    assert sandbox.record(event.order_id)["sandbox"]["approvals"] == 1
    assert list(PaymentHistory.objects.filter(event=event).values_list("to_status", flat=True))[
        -2:
    ] == ["UNKNOWN", "SUCCESS"]


@pytest.mark.django_db
def test_a_recovered_payment_logs_one_outcome_line_that_carries_the_decision(
    member_client, sandbox, product, json_log
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    recover()

    mine = [line for line in json_log() if line.get("orderId") == event.order_id]
    outcomes = [
        line for line in mine if line["event"] == "payment_outcome" and line["status"] == "SUCCESS"
    ]
    assert [(o.get("recovery_action"), o.get("attempt")) for o in outcomes] == [("SUCCESS", 1)]
    assert outcomes[0]["paymentKey"] == event.payment_key
    assert not [line for line in mine if line["event"] == "recovery_decision"]


@pytest.mark.django_db
def test_a_confirm_that_never_reached_the_pg_is_confirmed_again_with_the_same_key(
    member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=3)
    assert sandbox.record(event.order_id)["status"] == "IN_PROGRESS"
    # Until the sandbox has let the held request go, its key is "in process" there, and a
    # re-confirm is answered as such (a back-off, not the SUCCESS this test is about).
    while any(r["inFlight"] for r in sandbox.requests_for(event.order_id, "confirm")):
        time.sleep(0.05)

    recover()

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    keys = {c.get("idempotencyKey") for c in sandbox.requests_for(event.order_id, "confirm")}
    assert keys == {event.pg_idempotency_key}


@pytest.mark.django_db
def test_a_payment_the_pg_expired_fails_and_gives_its_stock_back(member_client, sandbox, product):
    event = unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=3)
    sandbox.advance(600)  # the PG's 10-minute confirm window passes

    recover()

    event.refresh_from_db()
    product.refresh_from_db()
    assert event.status == "FAILURE" and event.failure_code == "EXPIRED_PAYMENT"
    assert CompensationJob.objects.get(event=event).restored is True
    assert product.stock == 10


@pytest.mark.django_db
def test_no_pg_record_fails_only_after_the_window(member_client, sandbox, product, settings):
    answer = checkout(member_client, [(product.id, 1)]).json()
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    # Claimed with a paymentKey the PG never issued, then the confirm died.
    PaymentEvent.objects.filter(pk=event.pk).update(
        status="UNKNOWN", payment_key="tsbox-never-issued", next_attempt_at=timezone.now()
    )

    recover()
    event.refresh_from_db()
    assert event.status == "UNKNOWN" and event.retry_count == 1

    PaymentEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now(),
        created_at=timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS),
    )
    recover()
    event.refresh_from_db()
    assert event.status == "FAILURE" and event.failure_code == "NOT_FOUND_PAYMENT"


@pytest.mark.django_db
def test_a_stale_executing_payment_is_recovered(member_client, sandbox, product, settings):
    answer = checkout(member_client, [(product.id, 1)]).json()
    payment_key = sandbox.authorize(answer["orderId"], 5000)
    # The web process died after the PG approved and before it recorded anything.
    assert sandbox.confirm(payment_key, answer["orderId"], 5000).status_code == 200
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    PaymentEvent.objects.filter(pk=event.pk).update(status="EXECUTING", payment_key=payment_key)

    assert recovery_claim(owner="x", limit=10) == []  # not stale yet: a confirm may be running
    PaymentEvent.objects.filter(pk=event.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.RECOVERY_STALE_EXECUTING_SECONDS + 1)
    )
    recover()

    event.refresh_from_db()
    assert event.status == "SUCCESS"


@pytest.mark.django_db
def test_an_unreachable_pg_backs_off_then_a_final_check_then_needs_attention(
    member_client, sandbox, product, settings
):
    settings.RECOVERY_BACKOFF_SECONDS = [1, 2, 4]
    event = unknown_payment(member_client, sandbox, product, timeout=True, holdSeconds=3)
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING")

    pauses = []
    for attempt in (1, 2):
        before = timezone.now()
        recover()
        event.refresh_from_db()
        assert (event.status, event.retry_count) == ("UNKNOWN", attempt)
        after = timezone.now()
        # The pause was chosen between `before` and `after`: bound it from both ends.
        pauses.append(
            (
                (event.next_attempt_at - after).total_seconds(),
                (event.next_attempt_at - before).total_seconds(),
            )
        )
        PaymentEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    lookups_before = len(sandbox.requests_for(event.order_id, "lookup"))
    recover()  # the third and last attempt: one lookup, then the final check

    event.refresh_from_db()
    assert event.status == "NEEDS_ATTENTION"
    assert len(sandbox.requests_for(event.order_id, "lookup")) - lookups_before == 2
    # Exponential with jitter: each pause is 50-100 % of its step.
    for (shortest, longest), step in zip(pauses, [1, 2], strict=True):
        assert shortest <= step and longest >= 0.5 * step


@pytest.mark.django_db
def test_the_final_check_can_still_find_the_truth(member_client, sandbox, product, settings):
    settings.RECOVERY_BACKOFF_SECONDS = [1]
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    sandbox.fault(operation="lookup", errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING", count=1)

    recover()

    event.refresh_from_db()
    assert event.status == "SUCCESS"


@pytest.mark.django_db
def test_a_claimed_payment_is_not_claimed_twice_until_its_lease_runs_out(
    member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    first = recovery_claim(owner="worker-a", limit=10)
    second = recovery_claim(owner="worker-b", limit=10)
    assert (first, second) == ([event.pk], [])
    # The other worker cannot act on a payment it does not hold.
    assert recovery_attempt(event_id=event.pk, owner="worker-b", actor="worker") is None
    PaymentEvent.objects.filter(pk=event.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert recovery_claim(owner="worker-b", limit=10) == [event.pk]
    assert recovery_attempt(event_id=event.pk, owner="worker-a", actor="worker") is None
    assert recovery_attempt(event_id=event.pk, owner="worker-b", actor="worker").status == "SUCCESS"


@pytest.mark.django_db
def test_dry_run_decides_and_changes_nothing(member_client, sandbox, product, capsys):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    call_command("recover_payments", "--dry-run")

    assert f"{event.order_id}: would SUCCESS -> UNKNOWN" in capsys.readouterr().out
    event.refresh_from_db()
    assert (event.status, event.lease_owner) == ("UNKNOWN", "")


@pytest.mark.django_db
def test_one_order_can_be_recovered_by_hand(member_client, sandbox, product, capsys):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
    PaymentEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )

    call_command("recover_payments", "--order-id", event.order_id)

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert new_lease_owner() != new_lease_owner()


@pytest.mark.django_db
def test_one_task_settles_a_batch_and_skips_what_is_not_its_own(member_client, sandbox, settings):
    product = ProductFactory(price=5000, stock=10)
    events = [
        unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
        for _ in range(4)
    ]
    owner = new_lease_owner()
    claimed = recovery_claim(owner=owner, limit=3)
    assert claimed == sorted(claimed) and len(claimed) == 3
    PaymentEvent.objects.filter(pk=claimed[0]).update(lease_owner="someone-else")

    results = recovery_attempt_many(event_ids=claimed, owner=owner, actor="worker")

    assert [r.status for r in results] == ["SUCCESS", "SUCCESS"]
    statuses = dict(PaymentEvent.objects.values_list("id", "status"))
    assert [statuses[e.pk] for e in events] == ["UNKNOWN", "SUCCESS", "SUCCESS", "UNKNOWN"]
    assert PaymentEvent.objects.filter(lease_owner=owner).count() == 0


@pytest.mark.django_db
def test_a_batch_asking_a_slow_pg_gives_back_what_it_cannot_reach_in_time(
    member_client, sandbox, settings
):
    product = ProductFactory(price=5000, stock=10)
    events = [
        unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
        for _ in range(3)
    ]
    settings.RECOVERY_LEASE_SECONDS = 2  # half of it, 1 s, to ask about the batch
    sandbox.fault(operation="lookup", latencyMs=700)
    owner = new_lease_owner()
    claimed = recovery_claim(owner=owner, limit=3)

    results = recovery_attempt_many(event_ids=claimed, owner=owner, actor="worker")

    # Asked at 0 s and 0.7 s; at 1.4 s the budget is spent: the third goes back, unasked.
    assert [r.order_id for r in results] == [e.order_id for e in events[:2]]
    last = PaymentEvent.objects.get(pk=events[2].pk)
    assert (last.status, last.lease_owner, last.lease_until) == ("UNKNOWN", "", None)
    assert sandbox.requests_for(last.order_id, "lookup") == []


@pytest.mark.django_db
def test_a_payment_settled_meanwhile_is_left_as_settled_and_written_once(
    member_client, sandbox, monkeypatch
):
    """A webhook records the approval while the batch is still asking the PG about others:
    recovery's own record finds it moved and writes nothing (no second outbox, no history)."""
    from payments.services import recovery
    from payments.services.decisions import Action, Decision

    product = ProductFactory(price=5000, stock=10)
    events = [
        unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)
        for _ in range(2)
    ]
    decide = recovery.recovery_ask_and_decide

    def decide_then_a_webhook_wins(event):
        decision = decide(event)
        if event.pk == events[0].pk:
            webhook = PaymentEvent.objects.get(pk=event.pk)  # another process's copy
            assert recovery.payment_record_outcome(
                event=webhook,
                decision=Decision(Action.SUCCESS, "WEBHOOK_VERIFIED", "DONE"),
                actor="webhook",
                froms={"UNKNOWN"},
            )
        return decision

    monkeypatch.setattr(recovery, "recovery_ask_and_decide", decide_then_a_webhook_wins)
    owner = new_lease_owner()
    claimed = recovery_claim(owner=owner, limit=2)

    results = recovery_attempt_many(event_ids=claimed, owner=owner, actor="worker")

    assert [r.status for r in results] == ["SUCCESS", "SUCCESS"]
    first = PaymentEvent.objects.get(pk=events[0].pk)
    assert (first.status, first.lease_owner, first.lease_until) == ("SUCCESS", "", None)
    history = PaymentHistory.objects.filter(event=first, to_status="SUCCESS")
    assert list(history.values_list("actor", flat=True)) == ["webhook"]
    for event in events:
        assert sorted(event.outbox.values_list("kind", flat=True)) == ["LEDGER"]
    product.refresh_from_db()
    assert product.stock == 8 and not CompensationJob.objects.exists()


# --- two recovery workers (real processes) over 500 UNKNOWN payments at once -------------


COUNT = 500


@pytest.mark.django_db(transaction=True)
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

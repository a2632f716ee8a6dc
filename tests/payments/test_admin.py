"""The operators' admin: every page, every action, and what viewers may not do."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.utils import timezone

from payments.models import (
    CompensationJob,
    PaymentEvent,
    PaymentHistory,
    WebhookEvent,
)
from payments.services.decisions import Action, Decision
from payments.services.settle import payment_record_outcome
from payments.states import transition
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.helpers import checkout, confirm, restore_left_owed, unknown_payment

pytestmark = [pytest.mark.django_db]

ADMIN = "/admin/payments/paymentevent/"


def staff(group: str):
    person = MemberFactory(is_staff=True)
    person.groups.add(Group.objects.get(name=group))
    return person


@pytest.fixture
def viewer(client):
    person = staff("payment viewers")
    client.force_login(person)
    return person


@pytest.fixture
def operator(client):
    person = staff("payment operators")
    client.force_login(person)
    return person


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def needs_attention(member_client, sandbox, product, **fault) -> PaymentEvent:
    event = unknown_payment(member_client, sandbox, product, **fault)
    assert transition(
        event.pk, to="NEEDS_ATTENTION", reason="RECOVERY_BUDGET_SPENT", actor="worker"
    )
    event.refresh_from_db()
    return event


def never_authorized(member, product, *, status="NEEDS_ATTENTION", age_minutes=60):
    """A payment the PG never heard of, left in `status`, created `age_minutes` ago."""
    n = PaymentEvent.objects.count()
    event = PaymentEvent.objects.create(
        order_id=f"ord-admin-{n}-{product.pk}",
        buyer=member,
        gateway="toss",
        order_name=product.name,
        total_amount=product.price,
        pg_idempotency_key=f"key-{n}-{product.pk}",
    )
    event.lines.create(product=product, seller=product.seller, quantity=1, amount=product.price)
    Product.objects.filter(pk=product.pk).update(stock=product.stock - 1)
    for to in ("EXECUTING", "UNKNOWN"):
        assert transition(event.pk, to=to, reason="TEST", actor="worker", payment_key=f"pk-{n}")
    # The outcome function, so a FAILURE owes its stock restore (left PROCESSING here).
    with restore_left_owed():
        action = Action.BACK_OFF if status == "UNKNOWN" else Action(status)
        decision = Decision(action, "TEST")
        assert payment_record_outcome(
            event=event, decision=decision, actor="worker", froms={"UNKNOWN"}
        )
    PaymentEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes)
    )
    return PaymentEvent.objects.get(pk=event.pk)


def operate(client, event, name):
    return client.post(f"{ADMIN}{event.pk}/operate/{name}/", follow=True)


# --- groups -------------------------------------------------------------------------------


def test_the_migration_creates_viewers_and_operators():
    viewers = set(Group.objects.get(name="payment viewers").permissions.values_list("codename"))
    operators = set(Group.objects.get(name="payment operators").permissions.values_list("codename"))
    assert ("view_paymentevent",) in viewers and ("view_paymenthistory",) in viewers
    assert not {c for (c,) in viewers if not c.startswith("view_")}
    assert operators - viewers == {
        ("recheck_paymentevent",),
        ("resolve_paymentevent",),
        ("retry_compensation",),
    }
    assert not {c for (c,) in operators if c.split("_")[0] in ("add", "change", "delete")}


# --- pages --------------------------------------------------------------------------------


def test_the_list_shows_filters_and_searches(
    client, viewer, member_client, member, sandbox, product
):
    paid = checkout(member_client, [(product.id, 1)]).json()
    key = sandbox.authorize(paid["orderId"], 5000)
    assert confirm(member_client, paid["orderId"], key, 5000).status_code == 200
    stuck = never_authorized(member, ProductFactory(price=7000))

    page = client.get(ADMIN)
    assert page.status_code == 200
    text = page.content.decode()
    for column in ("Order id", "Buyer", "Gateway", "Total amount", "Status", "Retry count"):
        assert column in text
    assert paid["orderId"] in text and stuck.order_id in text and member.email in text

    only = client.get(ADMIN, {"status__exact": "NEEDS_ATTENTION"}).content.decode()
    assert stuck.order_id in only and paid["orderId"] not in only
    for query in (paid["orderId"], key, member.email.split("@")[0]):
        found = client.get(ADMIN, {"q": query}).content.decode()
        assert paid["orderId"] in found, query
    assert paid["orderId"] not in client.get(ADMIN, {"q": "ord-nope"}).content.decode()
    assert (
        client.get(
            ADMIN, {"gateway": "toss", "created_at__gte": "2000-01-01 00:00:00+00:00"}
        ).status_code
        == 200
    )


def test_the_detail_page_shows_everything_and_edits_nothing(
    client, viewer, member_client, sandbox, product
):
    answer = checkout(member_client, [(product.id, 2)]).json()
    key = sandbox.authorize(answer["orderId"], 10000)
    assert confirm(member_client, answer["orderId"], key, 10000).status_code == 200
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    WebhookEvent.objects.create(
        gateway="toss",
        event_key="k1",
        event_type="PAYMENT_STATUS_CHANGED",
        order_id=event.order_id,
        pg_status="DONE",
        event=event,
        payload={},
    )

    page = client.get(f"{ADMIN}{event.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    for shown in (
        "NOT_STARTED",
        "EXECUTING",
        "CONFIRM_REQUESTED",
        "SUCCESS",
        "LEDGER",
        "WALLET",
        "PAYMENT_STATUS_CHANGED",
        key,
        "10000",
    ):
        assert shown in text, shown
    # Nothing editable: no inputs for the payment's fields, no save button, no actions.
    assert 'name="status"' not in text and 'name="total_amount"' not in text
    assert 'name="_save"' not in text
    assert "/operate/" not in text  # viewers get no action buttons


def test_nothing_can_be_added_changed_or_deleted_even_by_a_superuser(client, member, product):
    event = never_authorized(member, product)
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    assert client.get(f"{ADMIN}add/").status_code == 403
    changed = client.post(f"{ADMIN}{event.pk}/change/", {"status": "SUCCESS"})
    assert changed.status_code == 403
    assert client.post(f"{ADMIN}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PaymentEvent.objects.get(pk=event.pk).status == "NEEDS_ATTENTION"


def test_history_compensation_and_webhook_lists_are_read_only_and_filterable(
    client, viewer, member, product
):
    event = never_authorized(member, product, status="FAILURE")
    for url, query in (
        ("/admin/payments/paymenthistory/", {"to_status": "FAILURE", "actor": "worker"}),
        ("/admin/payments/compensationjob/", {"status__exact": "PROCESSING"}),
        ("/admin/payments/webhookevent/", {"status__exact": "RECEIVED"}),
    ):
        page = client.get(url, query)
        assert page.status_code == 200, url
        assert client.get(f"{url}add/").status_code == 403
    assert event.order_id in client.get("/admin/payments/compensationjob/").content.decode()
    history = PaymentHistory.objects.filter(event=event).first()
    assert client.post(f"/admin/payments/paymenthistory/{history.pk}/delete/").status_code == 403


def test_the_index_counts_statuses_stuck_and_needs_attention(client, viewer, member, product):
    never_authorized(member, product)  # NEEDS_ATTENTION
    old = never_authorized(member, ProductFactory(), status="UNKNOWN")
    PaymentEvent.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(minutes=10))

    text = client.get("/admin/").content.decode()

    assert "Payments now (open)" in text and "Finished, created in the last hour" in text
    assert "NEEDS_ATTENTION: 1" in text
    assert "stuck (EXECUTING or UNKNOWN over 5 min): 1" in text


def test_a_member_who_is_not_staff_sees_no_admin(client, member):
    client.force_login(member)
    assert client.get(ADMIN).status_code == 302  # to the admin login


# --- actions: permissions -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["recheck", "resolve_failed", "retry_compensation"])
def test_viewers_may_not_act(client, viewer, member, product, name):
    event = never_authorized(member, product)
    rows = PaymentHistory.objects.filter(event=event).count()

    assert client.post(f"{ADMIN}{event.pk}/operate/{name}/").status_code == 403
    bulk = client.post(ADMIN, {"action": name, "_selected_action": [event.pk]}, follow=True)
    assert bulk.status_code == 200
    assert PaymentHistory.objects.filter(event=event).count() == rows
    assert not LogEntry.objects.exists()


def test_actions_are_post_only_and_named(client, operator, member, product):
    event = never_authorized(member, product)
    assert client.get(f"{ADMIN}{event.pk}/operate/recheck/").status_code == 405
    assert client.post(f"{ADMIN}{event.pk}/operate/delete_everything/").status_code == 403
    assert client.post(f"{ADMIN}999999999/operate/recheck/").status_code == 404
    assert client.post(f"{ADMIN}abc/operate/recheck/").status_code == 404


# --- actions: what they do ----------------------------------------------------------------


def test_recheck_finishes_an_unknown_payment_the_pg_approved(
    client, operator, member_client, sandbox, product
):
    event = unknown_payment(member_client, sandbox, product, dropResponseAfterCommit=True)

    page = operate(client, event, "recheck")

    event.refresh_from_db()
    assert event.status == "SUCCESS"
    assert "re-checked: now SUCCESS" in page.content.decode()
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.to_status, last.actor) == ("SUCCESS", operator.email)
    entry = LogEntry.objects.get(object_id=str(event.pk))
    assert entry.user == operator and "Re-check with the PG now" in entry.change_message


def test_recheck_of_needs_attention_records_the_pgs_approval(
    client, operator, member_client, sandbox, product
):
    event = needs_attention(member_client, sandbox, product, dropResponseAfterCommit=True)

    operate(client, event, "recheck")

    event.refresh_from_db()
    assert event.status == "SUCCESS" and event.outbox.count() == 2
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.from_status, last.reason, last.actor) == (
        "NEEDS_ATTENTION",
        "PG_APPROVED",
        operator.email,
    )


def test_a_recheck_that_changes_nothing_still_leaves_a_note(
    client, operator, member, sandbox, product
):
    event = never_authorized(member, product, status="FAILURE")

    page = operate(client, event, "recheck")

    assert "still FAILURE" in page.content.decode()
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.from_status, note.to_status, note.reason, note.actor) == (
        "FAILURE",
        "FAILURE",
        "OPERATOR_RECHECK",
        operator.email,
    )


def test_resolve_refuses_to_fail_what_the_pg_approved(
    client, operator, member_client, sandbox, product
):
    event = needs_attention(member_client, sandbox, product, dropResponseAfterCommit=True)
    stock = Product.objects.get(pk=product.pk).stock

    page = operate(client, event, "resolve_failed")

    event.refresh_from_db()
    assert event.status == "NEEDS_ATTENTION"
    assert "refused: the PG approved it" in page.content.decode()
    assert Product.objects.get(pk=product.pk).stock == stock
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.reason, note.actor) == ("OPERATOR_RESOLVE_REFUSED", operator.email)
    assert not CompensationJob.objects.filter(event=event).exists()


def test_resolve_fails_what_the_pg_never_saw_and_restores_stock(
    client, operator, member, sandbox, product
):
    event = never_authorized(member, product)  # past the PG's window, no PG record
    assert Product.objects.get(pk=product.pk).stock == 9

    operate(client, event, "resolve_failed")

    event.refresh_from_db()
    assert event.status == "FAILURE"
    assert Product.objects.get(pk=product.pk).stock == 10
    assert CompensationJob.objects.get(event=event).restored
    last = PaymentHistory.objects.filter(event=event).last()
    assert (last.from_status, last.to_status, last.reason, last.actor) == (
        "NEEDS_ATTENTION",
        "FAILURE",
        "OPERATOR_RESOLVED_FAILED",
        operator.email,
    )


def test_resolve_waits_while_the_pg_may_still_record_it(client, operator, member, sandbox, product):
    event = never_authorized(member, product, age_minutes=1)  # inside the PG's window

    page = operate(client, event, "resolve_failed")

    assert PaymentEvent.objects.get(pk=event.pk).status == "NEEDS_ATTENTION"
    assert "may still get one" in page.content.decode()


def test_retry_compensation_restores_the_stock_once(client, operator, member, sandbox, product):
    event = never_authorized(member, product, status="FAILURE")
    CompensationJob.objects.filter(event=event).update(last_error="OperationalError: deadlock")

    first = operate(client, event, "retry_compensation")
    second = operate(client, event, "retry_compensation")

    assert "stock restore: restored" in first.content.decode()
    assert "no stock restore is owed" in second.content.decode()
    assert Product.objects.get(pk=product.pk).stock == 10
    job = CompensationJob.objects.get(event=event)
    assert job.status == "DONE" and job.restored
    note = PaymentHistory.objects.filter(event=event).last()
    assert (note.reason, note.actor) == ("OPERATOR_COMPENSATION_RESTORED", operator.email)


def test_the_bulk_action_runs_for_each_selected_payment(client, operator, member, sandbox):
    events = [never_authorized(member, ProductFactory(stock=5)) for _ in range(3)]

    client.post(
        ADMIN,
        {"action": "resolve_failed", "_selected_action": [e.pk for e in events]},
        follow=True,
    )

    assert set(
        PaymentEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("status", flat=True)
    ) == {"FAILURE"}
    assert LogEntry.objects.filter(user=operator).count() == 3


def test_a_bulk_action_handles_at_most_fifty_and_says_so(
    client, operator, member, sandbox, monkeypatch
):
    from payments.admin import PaymentEventAdmin

    monkeypatch.setattr(PaymentEventAdmin, "MAX_BULK", 2)
    events = [never_authorized(member, ProductFactory(stock=5)) for _ in range(3)]

    page = client.post(
        ADMIN, {"action": "resolve_failed", "_selected_action": [e.pk for e in events]}, follow=True
    )

    statuses = [PaymentEvent.objects.get(pk=e.pk).status for e in events]
    assert statuses == ["FAILURE", "FAILURE", "NEEDS_ATTENTION"]
    assert "Only the first 2 selected payments were handled" in page.content.decode()


def test_operators_see_the_buttons_that_apply(client, operator, member, product):
    attention = never_authorized(member, product)
    failed = never_authorized(member, ProductFactory(), status="FAILURE")

    shown = client.get(f"{ADMIN}{attention.pk}/change/").content.decode()
    assert "Re-check with the PG now" in shown and "Resolve NEEDS_ATTENTION" in shown
    assert "Retry the stock restore" not in shown
    shown = client.get(f"{ADMIN}{failed.pk}/change/").content.decode()
    assert "Retry the stock restore" in shown and "Resolve NEEDS_ATTENTION" not in shown

"""The operators' admin: every page, the action buttons, and what viewers may not do.

What each action does is in tests/payments/services/test_operator.py.
"""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.utils import timezone

from payments.models import PaymentEvent, PaymentHistory, WebhookEvent
from tests.factories import MemberFactory, ProductFactory
from tests.payments.admin_helpers import ADMIN, never_authorized
from tests.payments.helpers import checkout, confirm

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


# --- groups -------------------------------------------------------------------------------


def test_the_migration_creates_viewers_and_operators():
    viewers = set(Group.objects.get(name="payment viewers").permissions.values_list("codename"))
    operators = set(Group.objects.get(name="payment operators").permissions.values_list("codename"))
    assert ("view_paymentevent",) in viewers and ("view_paymenthistory",) in viewers
    assert {("view_account",), ("view_journalentry",), ("view_posting",)} <= viewers
    assert not {c for (c,) in viewers if not c.startswith("view_")}
    assert operators - viewers == {
        ("recheck_paymentevent",),
        ("resolve_paymentevent",),
        ("retry_compensation",),
        ("retry_outboxmessage",),
        ("refund_paymentevent",),
        ("resolve_discrepancy",),
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


# --- actions: permissions and buttons (what they do: services/test_operator.py) ----------


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


def test_operators_see_the_buttons_that_apply(client, operator, member, product):
    attention = never_authorized(member, product)
    failed = never_authorized(member, ProductFactory(), status="FAILURE")

    shown = client.get(f"{ADMIN}{attention.pk}/change/").content.decode()
    assert "Re-check with the PG now" in shown and "Resolve NEEDS_ATTENTION" in shown
    assert "Retry the stock restore" not in shown
    shown = client.get(f"{ADMIN}{failed.pk}/change/").content.decode()
    assert "Retry the stock restore" in shown and "Resolve NEEDS_ATTENTION" not in shown

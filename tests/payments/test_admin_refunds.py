"""Refunds in the admin and on /metrics: a payment's refunds and their history on its page,
the refund list (its NEEDS_ATTENTION filter is the operators' queue), the index's refunds
in doubt, and the refund counters and gauge."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.utils import timezone

from payments.models import PaymentEvent, Refund, RefundHistory
from payments.refund_states import refund_transition
from payments.services.pg import pg_lookup
from payments.services.refund_elsewhere import refund_record_cancels_elsewhere
from products.models import Product
from tests.factories import MemberFactory, ProductFactory
from tests.payments.admin_helpers import ADMIN
from tests.payments.refund_helpers import cancel, paid
from tests.payments.services.test_virtual_accounts import deposited, late_deposit
from tests.payments.services.test_virtual_accounts import receiver as receiver  # a fixture
from tests.payments.test_metrics import delta, scrape, value

pytestmark = [pytest.mark.django_db]
REFUNDS = "/admin/payments/refund/"


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def refunded(member_client, sandbox, product) -> tuple[PaymentEvent, Refund]:
    """A 10,000 won order with 3,000 of it refunded at the PG."""
    event = paid(member_client, sandbox, [(product.id, 2)])
    answer = cancel(member_client, event.order_id, {"amount": 3000, "reason": "환불 테스트"})
    assert answer.status_code == 200, answer.content
    return event, Refund.objects.get(event=event)


def unknown_refund(member_client, sandbox, product) -> tuple[PaymentEvent, Refund]:
    """A refund whose cancel the PG carried out but whose answer was lost: UNKNOWN."""
    event = paid(member_client, sandbox, [(product.id, 2)])
    sandbox.fault(operation="cancel", orderId=event.order_id, count=1, dropResponseAfterCommit=True)
    answer = cancel(member_client, event.order_id, {"amount": 3000})
    assert answer.status_code == 202, answer.content
    refund = Refund.objects.get(event=event)
    assert refund.status == "UNKNOWN"
    return event, refund


def needs_attention(refund: Refund) -> Refund:
    """What refund recovery leaves once its schedule is spent."""
    assert refund_transition(
        refund.pk,
        to="NEEDS_ATTENTION",
        reason="RECOVERY_BUDGET_SPENT",
        actor="worker",
        froms={"UNKNOWN"},
    )
    return Refund.objects.get(pk=refund.pk)


def age(refund: Refund, seconds: int) -> None:
    Refund.objects.filter(pk=refund.pk).update(
        updated_at=timezone.now() - timedelta(seconds=seconds)
    )


# --- pages --------------------------------------------------------------------------------


def test_both_groups_may_view_refunds_and_only_operators_refund():
    for name in ("payment viewers", "payment operators"):
        codenames = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert {"view_refund", "view_refundline", "view_refundhistory"} <= codenames, name
        assert not {"change_refund", "delete_refund"} & codenames, name
        assert ("refund_paymentevent" in codenames) == (name == "payment operators")


def test_a_payment_page_shows_its_refunds_and_their_history(
    client, viewer, member_client, sandbox, product
):
    event, refund = refunded(member_client, sandbox, product)

    page = client.get(f"{ADMIN}{event.pk}/change/")

    assert page.status_code == 200
    inlines = {
        inline.opts.model: inline.formset for inline in page.context["inline_admin_formsets"]
    }
    assert [form.instance for form in inlines[Refund].forms] == [refund]
    history = [form.instance for form in inlines[RefundHistory].forms]
    assert [(h.from_status, h.to_status) for h in history] == [
        ("", "REQUESTED"),
        ("REQUESTED", "EXECUTING"),
        ("EXECUTING", "SUCCEEDED"),
    ]
    text = page.content.decode()
    for shown in ("SUCCEEDED", "3000", "환불 테스트", "buyer", "REFUND_REQUESTED", "REFUND_SENT"):
        assert shown in text, shown
    # Each history row names its refund, linked to the refund's own page.
    assert f"{REFUNDS}{refund.pk}/change/" in text
    assert re.search(rf'class="field-refund_number">\s*<p>{refund.pk}</p>', text)
    assert 'name="refunds-TOTAL_FORMS"' in text
    assert 'name="refunds-0-status"' not in text  # shown, never a form field


def test_the_refund_list_filters_by_status_and_searches_by_exact_order_id(
    client, viewer, member_client, sandbox, product
):
    done, _ = refunded(member_client, sandbox, product)
    doubtful, refund = unknown_refund(member_client, sandbox, product)
    needs_attention(refund)

    page = client.get(REFUNDS)
    assert page.status_code == 200
    text = page.content.decode()
    for column in ("Order", "Status", "Amount (PG + points)", "Pg amount", "Points amount"):
        assert column in text, column
    assert done.order_id in text and doubtful.order_id in text

    queue = client.get(REFUNDS, {"status__exact": "NEEDS_ATTENTION"}).content.decode()
    assert doubtful.order_id in queue and done.order_id not in queue
    found = client.get(REFUNDS, {"q": done.order_id}).content.decode()
    assert done.order_id in found and doubtful.order_id not in found
    assert done.order_id not in client.get(REFUNDS, {"q": done.order_id[:-1]}).content.decode()
    for query in ({"actor": "buyer"}, {"created_at__gte": "2000-01-01 00:00:00+00:00"}):
        assert client.get(REFUNDS, query).status_code == 200, query


def test_a_refund_page_shows_its_lines_and_history(client, viewer, member_client, sandbox, product):
    event, refund = refunded(member_client, sandbox, product)

    page = client.get(f"{REFUNDS}{refund.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    for shown in (event.order_id, refund.pg_idempotency_key, refund.pg_transaction_key):
        assert shown in text, shown
    assert "REFUND_SENT" in text and "3000" in text
    assert 'name="_save"' not in text


def test_nothing_can_be_added_changed_or_deleted_even_by_a_superuser(
    client, member_client, sandbox, product
):
    _, refund = refunded(member_client, sandbox, product)
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    assert client.get(f"{REFUNDS}add/").status_code == 403
    changed = client.post(f"{REFUNDS}{refund.pk}/change/", {"status": "FAILED"})
    assert changed.status_code == 403
    assert client.post(f"{REFUNDS}{refund.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Refund.objects.get(pk=refund.pk).status == "SUCCEEDED"


def test_the_index_shows_refunds_in_doubt(client, viewer, member_client, sandbox, product):
    _, refund = unknown_refund(member_client, sandbox, product)
    needs_attention(refund)

    page = client.get("/admin/")

    assert page.context["operations"]["refunds_in_doubt"] == 1
    text = page.content.decode()
    assert f"{REFUNDS}?status__exact=NEEDS_ATTENTION" in text
    minutes = settings.PAYMENT_STUCK_SECONDS // 60
    assert f"refunds in doubt (NEEDS_ATTENTION, or open over {minutes} min): 1" in text


# --- metrics ------------------------------------------------------------------------------


def test_a_refund_is_counted_with_the_won_it_gave_back(client, member_client, sandbox, product):
    before = scrape(client)

    refunded(member_client, sandbox, product)

    after = scrape(client)
    # Counters live for the whole test process: what this refund added, not their values.
    assert delta(before, after, "payment_refunds_total", gateway="toss", status="SUCCEEDED") == 1
    assert delta(before, after, "payment_refunded_won_total", gateway="toss") == 3000


def test_a_refund_is_in_doubt_once_stuck_and_while_it_needs_attention(
    client, member_client, sandbox, product
):
    before = scrape(client)
    _, refund = unknown_refund(member_client, sandbox, product)
    _, done = refunded(member_client, sandbox, ProductFactory(price=5000, stock=10))
    stuck = settings.PAYMENT_STUCK_SECONDS

    samples = scrape(client)
    assert delta(before, samples, "payment_refunds_total", gateway="toss", status="UNKNOWN") == 1
    assert value(samples, "payment_refunds_in_doubt") == 0  # recovery has time to settle it

    age(refund, stuck + 60)
    age(done, stuck + 60)  # a finished refund is never in doubt, however old
    assert value(scrape(client), "payment_refunds_in_doubt") == 1

    needs_attention(refund)  # updated just now: counted whatever its age
    assert value(scrape(client), "payment_refunds_in_doubt") == 1


# --- the operators' refund form -------------------------------------------------------------


def test_operators_refund_units_from_the_payment_page_and_the_log_says_who(
    client, operator, member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 3)])
    page = client.get(f"{ADMIN}{event.pk}/change/").content.decode()
    assert f"{ADMIN}{event.pk}/refund/" in page
    line = event.lines.get()
    form = client.get(f"{ADMIN}{event.pk}/refund/")
    assert form.status_code == 200 and f'name="qty_{line.pk}"' in form.content.decode()

    done = client.post(
        f"{ADMIN}{event.pk}/refund/",
        {"mode": "items", f"qty_{line.pk}": "2", "reason": "파손"},
        follow=True,
    )

    assert "SUCCEEDED" in done.content.decode()
    refund = Refund.objects.get(event=event)
    name = operator.get_username()
    assert (refund.actor, refund.pg_amount, refund.reason) == (name, 10000, "파손")
    assert refund.history.filter(actor=name, to_status="SUCCEEDED").exists()
    assert LogEntry.objects.filter(object_id=str(event.pk), user=operator).exists()
    event.refresh_from_db()
    assert event.status == "PARTIAL_CANCELED"
    assert Product.objects.get(pk=product.pk).stock == 9


def test_a_deposited_virtual_account_is_refunded_from_the_admin_to_the_buyers_account(
    client, operator, member_client, sandbox, receiver, product
):
    event = deposited(client, member_client, sandbox, receiver, product, quantity=2)
    url = f"{ADMIN}{event.pk}/refund/"
    assert 'name="refund_account_number"' in client.get(url).content.decode()

    refused = client.post(url, {"mode": "all", "reason": "반품"}, follow=True)
    assert "REFUND_ACCOUNT_REQUIRED" in refused.content.decode()
    assert not Refund.objects.filter(event=event).exists()

    account = {"refund_bank": "88", "refund_account_number": "110123456789"}
    done = client.post(
        url, {"mode": "all", "reason": "반품", **account, "refund_holder": "김구매"}, follow=True
    )

    assert "SUCCEEDED" in done.content.decode()
    refund = Refund.objects.get(event=event)
    assert (refund.actor, refund.refund_account_number) == (operator.get_username(), "")
    assert PaymentEvent.objects.get(pk=event.pk).status == "CANCELED"
    record = sandbox.get(event.payment_key).json()
    assert record["virtualAccount"]["refundReceiveAccount"]["accountNumber"].endswith("6789")


def test_an_operator_gives_a_late_deposits_refund_the_buyers_account(
    client, operator, member_client, sandbox, receiver, product
):
    event = late_deposit(client, member_client, sandbox, receiver, product)
    refund = event.refunds.get()
    assert refund.status == "AWAITING_ACCOUNT"
    url = f"{ADMIN}{event.pk}/refund/"
    assert url in client.get(f"{ADMIN}{event.pk}/change/").content.decode()
    form = client.get(url).content.decode()
    assert "Send the refund" in form and 'name="mode"' not in form

    missing = client.post(url, {}, follow=True)
    assert "REFUND_ACCOUNT_REQUIRED" in missing.content.decode()
    account = {"refund_bank": "88", "refund_account_number": "110123456789"}
    done = client.post(url, {**account, "refund_holder": "김구매"}, follow=True)

    assert "SUCCEEDED" in done.content.decode()
    refund.refresh_from_db()
    assert (refund.status, refund.refund_account_number) == ("SUCCEEDED", "")
    assert refund.history.filter(actor=operator.get_username(), reason="REFUND_ACCOUNT_GIVEN")
    assert PaymentEvent.objects.get(pk=event.pk).status == "FAILURE"
    assert sandbox.get(event.payment_key).json()["status"] == "CANCELED"
    assert Product.objects.get(pk=product.pk).stock == 10
    assert url not in client.get(f"{ADMIN}{event.pk}/change/").content.decode()


def test_the_refund_form_checks_what_the_api_checks(
    client, operator, member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 1)])
    url = f"{ADMIN}{event.pk}/refund/"

    bad = client.post(url, {"mode": "amount", "amount": "0", "reason": "x"})
    too_much = client.post(url, {"mode": "amount", "amount": "5001", "reason": "x"}, follow=True)

    assert bad.status_code == 400 and "Not refunded" in bad.content.decode()
    assert "REFUND_EXCEEDS_BALANCE" in too_much.content.decode()
    assert not Refund.objects.exists()
    assert client.post(url, {"mode": "all", "reason": "전체"}, follow=True).status_code == 200
    assert PaymentEvent.objects.get(pk=event.pk).status == "CANCELED"


def test_viewers_may_not_refund(client, viewer, member_client, sandbox, product):
    event = paid(member_client, sandbox, [(product.id, 1)])
    url = f"{ADMIN}{event.pk}/refund/"
    assert url not in client.get(f"{ADMIN}{event.pk}/change/").content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"mode": "all", "reason": "x"}).status_code == 403
    assert not Refund.objects.exists()


def pg_record(event):
    """The PG's record of the payment, as the port reads it."""
    return pg_lookup(event).record


def test_operators_recheck_a_partial_cancel_made_at_the_pg_as_a_refund_of_money(
    client, operator, member_client, sandbox, product
):
    event = paid(member_client, sandbox, [(product.id, 2)])
    assert sandbox.cancel(event.payment_key, {"cancelReason": "부분", "cancelAmount": 3000}).ok
    record = pg_record(event)
    refund_record_cancels_elsewhere(event=event, record=record)  # as a notice's look does
    refund = Refund.objects.get(event=event, status="NEEDS_ATTENTION")

    client.post(REFUNDS, {"action": "recheck", "_selected_action": [refund.pk]}, follow=True)

    refund.refresh_from_db()
    assert refund.status == "SUCCEEDED"
    assert refund.history.last().actor == operator.get_username()
    event.refresh_from_db()
    assert (event.status, event.canceled_amount, event.refund_reserved) == (
        "PARTIAL_CANCELED",
        3000,
        0,
    )
    assert Product.objects.get(pk=product.pk).stock == 8  # money only: nothing restocked


def test_a_refund_recovery_gave_up_on_is_found_by_an_operators_recheck(
    client, operator, member_client, sandbox, product
):
    event, refund = unknown_refund(member_client, sandbox, product)
    Refund.objects.filter(pk=refund.pk).update(status="NEEDS_ATTENTION")  # as recovery leaves it

    client.post(REFUNDS, {"action": "recheck", "_selected_action": [refund.pk]}, follow=True)

    refund.refresh_from_db()
    assert (refund.status, refund.history.last().reason) == ("SUCCEEDED", "PG_CANCEL_FOUND")
    assert PaymentEvent.objects.get(pk=event.pk).status == "PARTIAL_CANCELED"

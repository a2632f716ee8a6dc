"""The books in the admin: a payment's journal entries, accounts and seller wallets, the
trial balance, and parked outbox rows with their audited retry."""

import pytest
from django.contrib.admin.models import LogEntry

from ledger.models import Account, JournalEntry
from payments.models import OutboxMessage, PaymentEvent
from payments.services.relay import relay_book_many, relay_claim
from tests.factories import MemberFactory, ProductFactory, SellerFactory
from tests.payments.admin_helpers import ADMIN
from tests.payments.helpers import checkout, confirm

pytestmark = [pytest.mark.django_db]
OUTBOX = "/admin/payments/outboxmessage/"
ACCOUNTS = "/admin/ledger/account/"


@pytest.fixture
def booked(member_client, sandbox) -> PaymentEvent:
    """A 10,000 won payment to a seller at 10% commission, booked by the relay."""
    product = ProductFactory(price=5000, stock=10, seller=SellerFactory(commission_rate="0.10"))
    answer = checkout(member_client, [(product.id, 2)]).json()
    key = sandbox.authorize(answer["orderId"], 10000)
    assert confirm(member_client, answer["orderId"], key, 10000).status_code == 200
    assert relay_book_many(message_ids=relay_claim(owner="test", limit=10))["booked"] == 1
    return PaymentEvent.objects.get(order_id=answer["orderId"])


def test_a_payment_page_shows_its_journal_entry(client, viewer, booked):
    seller_id = booked.lines.get().seller_id
    text = client.get(f"{ADMIN}{booked.pk}/change/").content.decode()
    for shown in ("GOODS_PAID", "pg_receivable:toss", f"seller_payable:{seller_id}", "-9000"):
        assert shown in text, shown
    assert "revenue:commission" in text and "-1000" in text


def test_entries_are_listed_searched_and_never_changed(client, member, booked):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    entry = JournalEntry.objects.get(reference=booked.order_id)
    listed = client.get("/admin/ledger/journalentry/", {"q": booked.order_id}).content.decode()
    assert booked.order_id in listed and "GOODS_PAID" in listed
    page = client.get(f"/admin/ledger/journalentry/{entry.pk}/change/")
    assert page.status_code == 200 and "pg_receivable:toss" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.get("/admin/ledger/journalentry/add/").status_code == 403
    assert client.post(f"/admin/ledger/journalentry/{entry.pk}/change/", {}).status_code == 403
    assert (
        client.post(f"/admin/ledger/journalentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert JournalEntry.objects.filter(pk=entry.pk).exists()


def test_a_seller_wallet_shows_what_the_seller_is_owed(client, viewer, booked):
    seller = booked.lines.get().seller
    text = client.get(ACCOUNTS, {"owner": "seller"}).content.decode()
    assert f"seller_payable:{seller.pk}" in text and seller.name in text
    assert "9000" in text  # what we owe the seller, read as a liability reads
    assert f"points:{booked.buyer_id}" not in text
    wallet = Account.objects.get(code=f"seller_payable:{seller.pk}")
    assert client.post(f"{ACCOUNTS}{wallet.pk}/change/", {"balance": 0}).status_code == 403


def test_the_trial_balance_totals_zero_and_shows_what_ledger_check_finds(client, viewer, booked):
    page = client.get(f"{ACCOUNTS}trial-balance/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ledger_check: OK" in text and 'id="trial-balance-total"' in text
    for family in ("pg_receivable:", "seller_payable:", "revenue:"):
        assert family in text
    assert page.context["balance"]["total"] == 0
    assert page.context["balance"]["by_kind"] == {
        "ASSET": 10000,
        "LIABILITY": -9000,
        "REVENUE": -1000,
    }

    Account.objects.filter(code="revenue:commission").update(balance=-999)  # a corrupt cache
    text = client.get(f"{ACCOUNTS}trial-balance/").content.decode()
    assert "ledger_check found" in text
    assert "account revenue:commission: cached balance -999, postings -1000" in text


def test_the_trial_balance_needs_the_view_permission(client):
    client.force_login(MemberFactory(is_staff=True))
    assert client.get(f"{ACCOUNTS}trial-balance/").status_code == 403


def _parked(booked_event) -> OutboxMessage:
    message = OutboxMessage.objects.get(event=booked_event, kind="LEDGER")
    OutboxMessage.objects.filter(pk=message.pk).update(
        status="PARKED", attempts=8, last_error="OperationalError: deadlock"
    )
    return message


def test_operators_retry_a_parked_row_and_the_admin_log_says_so(client, operator, booked):
    message = _parked(booked)
    listed = client.get(OUTBOX, {"status__exact": "PARKED"}).content.decode()
    assert booked.order_id in listed and "OperationalError: deadlock" in listed
    assert "parked" in client.get("/admin/").content.decode()

    page = client.post(
        OUTBOX, {"action": "retry_parked", "_selected_action": [message.pk]}, follow=True
    )

    assert "1 parked row(s) back to PENDING" in page.content.decode()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("PENDING", 0)
    assert LogEntry.objects.filter(object_id=str(message.pk), user=operator).exists()


def test_viewers_may_not_retry_a_parked_row(client, viewer, booked):
    message = _parked(booked)
    listed = client.get(OUTBOX).content.decode()
    assert "retry_parked" not in listed
    client.post(OUTBOX, {"action": "retry_parked", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.status == "PARKED"


def test_the_seller_list_shows_its_commission_rate(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    SellerFactory(name="수수료 상점", commission_rate="0.07")
    text = client.get("/admin/products/seller/").content.decode()
    assert "수수료 상점" in text and "0.07" in text

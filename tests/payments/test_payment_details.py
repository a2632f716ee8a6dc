"""What the PG says about how the buyer paid, kept with the payment (PaymentDetail) and
shown in the API and the admin, for each PG; and that no secret, full card number or
full refund account number reaches the database, a log line or an API answer."""

import json

import pytest
from django.apps import apps
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from payments.models import PaymentDetail, PaymentEvent, WebhookEvent
from tests.factories import MemberFactory, ProductFactory
from tests.payments.refund_helpers import paid
from tests.payments.services.test_virtual_accounts import ACCOUNT, cancel, deposited
from tests.payments.services.test_virtual_accounts import receiver as receiver  # a fixture

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=20)


@pytest.mark.parametrize("gateway", ["toss", "nicepay", "kakaopay"])
def test_a_card_payment_shows_how_it_was_paid(member_client, sandbox, gateways, product, gateway):
    event = paid(member_client, sandbox, [(product.id, 1)], gateway)

    detail = PaymentDetail.objects.get(event=event)
    got = member_client.get(f"/api/v1/payments/{event.order_id}").json()

    expected_method = "EASY_PAY" if gateway == "kakaopay" else "CARD"
    assert detail.method == got["method"] == expected_method
    receipt = got["receipt"]
    assert receipt is not None and got["virtualAccount"] is None
    if gateway == "kakaopay":
        assert receipt["easyPayProvider"] == "카카오페이"
    else:
        assert receipt["cardNumber"] and "*" in receipt["cardNumber"]
        assert receipt["approvalNumber"]
    # The list shows the same method, without a query per payment for it.
    paid(member_client, sandbox, [(product.id, 1)], gateway)
    with CaptureQueriesContext(connection) as two:
        listed = member_client.get("/api/v1/payments").json()["results"]
    paid(member_client, sandbox, [(product.id, 1)], gateway)
    with CaptureQueriesContext(connection) as three:
        member_client.get("/api/v1/payments")
    assert listed[0]["method"] == expected_method
    assert len(three.captured_queries) == len(two.captured_queries)


def test_the_admin_page_shows_how_it_was_paid(client, member_client, sandbox, product):
    event = paid(member_client, sandbox, [(product.id, 1)], "toss")
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))

    page = client.get(f"/admin/payments/paymentevent/{event.pk}/change/").content.decode()

    detail = PaymentDetail.objects.get(event=event)
    assert "what the pg says" in page.lower() and detail.card_number in page
    assert detail.approval_number in page


def _text_in_database() -> str:
    """Every text and JSON value of every row of every model of ours."""
    seen = []
    for model in apps.get_models():
        if model._meta.app_label not in ("payments", "ledger", "members", "products"):
            continue
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values_list(*fields):
            seen.append(json.dumps(row, default=str, ensure_ascii=False))
    return "\n".join(seen)


def test_no_secret_or_full_number_reaches_the_database_a_log_or_an_answer(
    client,
    member_client,
    sandbox,
    receiver,
    product,
    json_log,
):
    event = deposited(client, member_client, sandbox, receiver, product, quantity=2)
    secret = sandbox.get(event.payment_key).json()["secret"]
    answers = [member_client.get(f"/api/v1/payments/{event.order_id}").content.decode()]
    answers.append(
        cancel(
            member_client, event.order_id, amount=5000, refundReceiveAccount=ACCOUNT
        ).content.decode()
    )
    answers.append(member_client.get(f"/api/v1/payments/{event.order_id}").content.decode())
    card = paid(member_client, sandbox, [(product.id, 1)], "toss")
    answers.append(member_client.get(f"/api/v1/payments/{card.order_id}").content.decode())

    stored, logged = _text_in_database(), json_log.text()
    assert WebhookEvent.objects.filter(order_id=event.order_id).exists()
    for where, text in [("database", stored), ("logs", logged), ("answers", "\n".join(answers))]:
        assert secret not in text, where
    # Card numbers only masked (the adapters mask what a PG did not:
    # tests/gateways/test_payment_details.py), in the columns and in the raw answers.
    details = list(PaymentDetail.objects.all())
    assert any(d.card_number for d in details) and any(d.account_number for d in details)
    for detail in details:
        assert not detail.card_number or "*" in detail.card_number
        for key, value in _numbers(detail.raw):
            if key == "accountNumber" and value == detail.account_number:
                continue  # the issued account itself: the buyer pays into it
            assert "*" in value, (key, value)
    # The refund account: kept on its refund only while the cancel may be sent (again).
    assert ACCOUNT["accountNumber"] not in logged
    assert ACCOUNT["accountNumber"] not in "\n".join(answers)
    refund = PaymentEvent.objects.get(pk=event.pk).refunds.get()
    assert refund.status == "SUCCEEDED" and ACCOUNT["accountNumber"] not in stored


def _numbers(raw, key=""):
    """(key, value) of every card or account number in a PG's answer."""
    if isinstance(raw, dict):
        for k, v in raw.items():
            yield from _numbers(v, k)
    elif isinstance(raw, list):
        for v in raw:
            yield from _numbers(v, key)
    elif isinstance(raw, str) and key in ("number", "cardNum", "accountNumber", "refundAccount"):
        yield key, raw

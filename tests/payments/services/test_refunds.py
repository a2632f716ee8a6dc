"""Refunds through the API against the PG sandbox: full, partial, by items and by amount,
through each PG, refused, lost, replayed, concurrent; and the cancel of an unpaid order."""

import threading

import pytest
from rest_framework.test import APIClient

from ledger import accounts
from ledger.check import ledger_check
from ledger.models import JournalEntry
from payments.models import PaymentEvent, Refund, RefundHistory
from products.models import Product
from tests.factories import MemberFactory, ProductFactory, SellerFactory, give_points
from tests.payments.helpers import checkout, confirm, in_threads
from tests.payments.refund_helpers import balance, cancel, fault, paid, pg_cancelled, relay_all

pytestmark = [pytest.mark.django_db]
GATEWAYS = ["toss", "nicepay", "kakaopay"]


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10, seller=SellerFactory(commission_rate="0.10"))


# --- a paid order, through each PG ---------------------------------------------------------


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_partial_refund_by_items_then_the_rest(
    member_client, member, sandbox, gateways, product, gateway
):
    event = paid(member_client, sandbox, [(product.id, 3)], gateway)

    first = cancel(
        member_client, event.order_id, {"items": [{"productId": product.id, "quantity": 1}]}
    )

    assert first.status_code == 200, first.content
    assert first.json() | {"refund": None} == {
        "orderId": event.order_id,
        "status": "PARTIAL_CANCELED",
        "canceledAmount": 5000,
        "balanceAmount": 10000,
        "pointsRefunded": 0,
        "refund": None,
    }
    assert first.json()["refund"]["status"] == "SUCCEEDED"
    assert Product.objects.get(pk=product.pk).stock == 8  # 10 - 3 + 1

    rest = cancel(member_client, event.order_id, {"reason": "전부 취소"})

    assert rest.status_code == 200, rest.content
    assert (rest.json()["status"], rest.json()["canceledAmount"]) == ("CANCELED", 15000)
    assert Product.objects.get(pk=product.pk).stock == 10
    assert pg_cancelled(sandbox, event) == [5000, 10000]
    refunds = Refund.objects.filter(event=event).order_by("id")
    assert [(r.status, r.pg_amount) for r in refunds] == [("SUCCEEDED", 5000), ("SUCCEEDED", 10000)]
    assert all(r.pg_transaction_key for r in refunds)
    assert list(
        RefundHistory.objects.filter(refund=refunds[0]).values_list("from_status", "to_status")
    ) == [("", "REQUESTED"), ("REQUESTED", "EXECUTING"), ("EXECUTING", "SUCCEEDED")]

    assert relay_all()["booked"] == 3  # the payment, then each refund
    seller = event.lines.get().seller_id
    assert balance(accounts.seller_payable(seller)) == 0
    assert balance(accounts.COMMISSION) == 0
    assert balance(accounts.pg_receivable(gateway)) == 0
    assert ledger_check().ok


def test_a_refund_of_money_only_leaves_the_stock_and_shares_it_among_the_lines(
    member_client, sandbox, product
):
    other = ProductFactory(price=2000, stock=10, seller=SellerFactory(commission_rate="0.05"))
    event = paid(member_client, sandbox, [(product.id, 1), (other.id, 1)])  # 5,000 + 2,000

    answer = cancel(member_client, event.order_id, {"amount": 3500, "reason": "파손 보상"})

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "PARTIAL_CANCELED"
    assert answer.json()["balanceAmount"] == 3500
    assert Product.objects.get(pk=product.pk).stock == 9  # nothing restocked
    refund = Refund.objects.get(event=event)
    shares = sorted(refund.lines.values_list("amount", "quantity", "commission"))
    assert shares == [(1000, 0, 50), (2500, 0, 250)]  # in proportion to 5,000 and 2,000
    relay_all()
    assert ledger_check().ok


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_refund_beyond_what_is_left_is_refused_and_nothing_is_sent(
    member_client, sandbox, gateways, product, gateway
):
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)

    too_much = cancel(member_client, event.order_id, {"amount": 10001})
    too_many = cancel(
        member_client, event.order_id, {"items": [{"productId": product.id, "quantity": 3}]}
    )
    not_in_it = cancel(
        member_client, event.order_id, {"items": [{"productId": 999999, "quantity": 1}]}
    )

    assert too_much.status_code == 409 and too_much.json()["code"] == "REFUND_EXCEEDS_BALANCE"
    assert too_many.status_code == 409 and too_many.json()["code"] == "REFUND_EXCEEDS_BALANCE"
    assert not_in_it.status_code == 400
    assert sandbox.requests_for(event.order_id, "cancel") == []
    assert not Refund.objects.exists()
    event.refresh_from_db()
    assert (event.status, event.refund_reserved) == ("SUCCESS", 0)
    assert cancel(member_client, event.order_id).json()["status"] == "CANCELED"
    assert cancel(member_client, event.order_id).status_code == 409  # nothing left


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": "100"},
        {"items": []},
        {"items": [{"productId": 1, "quantity": 0}]},
        {"items": [{"productId": 1, "quantity": 1}], "amount": 100},
        {"reason": "x" * 201},
    ],
)
def test_a_malformed_cancel_is_a_400(member_client, sandbox, product, body):
    event = paid(member_client, sandbox, [(product.id, 1)])
    assert cancel(member_client, event.order_id, body).status_code == 400


def test_another_members_order_is_not_found(member_client, sandbox, product):
    event = paid(member_client, sandbox, [(product.id, 1)])
    other = APIClient()
    other.force_authenticate(MemberFactory())
    assert cancel(other, event.order_id).status_code == 404
    assert PaymentEvent.objects.get(pk=event.pk).status == "SUCCESS"


# Each PG's refusal of a cancel: Toss's code, NicePay's 취소 불가 거래, KakaoPay's -784.
REFUSALS = {
    "toss": {"errorCode": "NOT_CANCELABLE_PAYMENT"},
    "nicepay": {"errorCode": "2014"},
    "kakaopay": {"errorCode": "-784", "httpStatus": 400},
}


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_refund_the_pg_refuses_releases_what_it_reserved(
    member_client, sandbox, gateways, product, gateway
):
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)
    fault(sandbox, event, operation="cancel", count=1, **REFUSALS[gateway])

    refused = cancel(member_client, event.order_id, {"amount": 4000})

    assert refused.status_code == 409 and refused.json()["code"] == "REFUND_REJECTED"
    event.refresh_from_db()
    assert (event.status, event.refund_reserved, event.canceled_amount) == ("SUCCESS", 0, 0)
    assert Refund.objects.get(event=event).status == "FAILED"
    assert cancel(member_client, event.order_id, {"amount": 4000}).status_code == 200


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_refund_whose_answer_is_lost_is_unknown_and_keeps_its_reservation(
    member_client, sandbox, gateways, product, gateway
):
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)
    fault(sandbox, event, operation="cancel", count=1, dropResponseAfterCommit=True)

    answer = cancel(member_client, event.order_id, {"amount": 4000})

    assert answer.status_code == 202, answer.content
    assert answer.json()["refund"]["status"] == "UNKNOWN"
    event.refresh_from_db()
    assert (event.status, event.refund_reserved) == ("SUCCESS", 4000)
    # What is left cannot be over-refunded while the first is unknown.
    assert cancel(member_client, event.order_id, {"amount": 6001}).status_code == 409


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_repeat_with_the_same_idempotency_key_refunds_once(
    member_client, sandbox, gateways, product, gateway
):
    event = paid(member_client, sandbox, [(product.id, 2)], gateway)
    key = {"HTTP_IDEMPOTENCY_KEY": "refund-once-1"}

    first = cancel(member_client, event.order_id, {"amount": 1000}, **key)
    again = cancel(member_client, event.order_id, {"amount": 1000}, **key)
    other = cancel(member_client, event.order_id, {"amount": 2000}, **key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert other.status_code == 422
    assert Refund.objects.filter(event=event).count() == 1
    assert pg_cancelled(sandbox, event) == [1000]


# --- points ------------------------------------------------------------------------------


def test_points_go_back_once_the_pg_share_is_refunded(member_client, member, sandbox, product):
    give_points(member, 4000)
    event = paid(member_client, sandbox, [(product.id, 2)], points=4000)  # PG 6,000
    assert event.total_amount == 6000

    answer = cancel(member_client, event.order_id, {"amount": 7000})

    refund = Refund.objects.get(event=event)
    assert (refund.pg_amount, refund.points_amount) == (6000, 1000)
    assert answer.json()["pointsRefunded"] == 1000
    assert answer.json()["balanceAmount"] == 0 and answer.json()["status"] == "PARTIAL_CANCELED"
    relay_all()
    member.refresh_from_db()
    assert member.point_balance == 1000
    assert cancel(member_client, event.order_id).json()["status"] == "CANCELED"
    relay_all()
    member.refresh_from_db()
    assert member.point_balance == 4000
    assert ledger_check().ok


def test_an_order_paid_with_points_alone_is_refunded_without_the_pg(
    member_client, member, sandbox, product
):
    give_points(member, 5000)
    event = paid(member_client, sandbox, [(product.id, 1)], points=5000)

    answer = cancel(member_client, event.order_id)

    assert answer.json()["status"] == "CANCELED", answer.content
    assert sandbox.requests_for(event.order_id) == []
    relay_all()
    member.refresh_from_db()
    assert member.point_balance == 5000
    assert Product.objects.get(pk=product.pk).stock == 10


def test_a_top_up_refund_takes_its_points_back_and_is_refused_once_they_are_spent(
    member_client, member, sandbox, product
):
    def top_up(amount):
        body = {"gateway": "toss", "purpose": "POINT_CHARGE", "amount": amount}
        answer = member_client.post("/api/v1/payments/checkout", body, format="json").json()
        key = sandbox.authorize(answer["orderId"], amount)
        assert confirm(member_client, answer["orderId"], key, amount).status_code == 200
        relay_all()
        return answer["orderId"]

    kept = top_up(10000)
    answer = cancel(member_client, kept, {"amount": 4000})
    assert answer.status_code == 200, answer.content
    member.refresh_from_db()
    assert member.point_balance == 6000

    paid(member_client, sandbox, [(product.id, 1)], points=5000)  # spends 5,000 of 6,000
    refused = cancel(member_client, kept)
    assert refused.status_code == 409 and refused.json()["code"] == "INSUFFICIENT_POINTS"
    assert len(sandbox.requests_for(kept, "cancel")) == 1
    relay_all()
    assert ledger_check().ok
    assert JournalEntry.objects.filter(kind="TOP_UP_REFUNDED").count() == 1


# --- an unpaid order ----------------------------------------------------------------------


def test_cancelling_an_unpaid_order_releases_its_stock_and_points_at_once(
    member_client, member, sandbox, product
):
    give_points(member, 1000)
    body = {
        "gateway": "toss",
        "items": [{"productId": product.id, "quantity": 2}],
        "pointsToUse": 1000,
    }
    answer = member_client.post("/api/v1/payments/checkout", body, format="json").json()
    assert Product.objects.get(pk=product.pk).stock == 8

    cancelled = cancel(member_client, answer["orderId"])

    assert cancelled.status_code == 200
    assert cancelled.json() == {"orderId": answer["orderId"], "status": "FAILURE"}
    assert Product.objects.get(pk=product.pk).stock == 10
    member.refresh_from_db()
    assert member.point_balance == 1000
    assert cancel(member_client, answer["orderId"]).json()["status"] == "FAILURE"  # again: same
    key = sandbox.authorize(answer["orderId"], 9000)
    late = confirm(member_client, answer["orderId"], key, 9000)
    assert late.status_code == 409 and late.json()["code"] == "INVALID_STATE"
    assert sandbox.requests_for(answer["orderId"], "confirm") == []


def test_an_order_being_confirmed_cannot_be_cancelled(member_client, sandbox, product):
    answer = checkout(member_client, [(product.id, 1)]).json()
    PaymentEvent.objects.filter(order_id=answer["orderId"]).update(status="EXECUTING")

    refused = cancel(member_client, answer["orderId"])

    assert refused.status_code == 409 and refused.json()["code"] == "INVALID_STATE"


# --- concurrency --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_20_concurrent_refunds_of_a_tenth_each_make_exactly_10(sandbox, product):
    member = MemberFactory()
    client = APIClient()
    client.force_authenticate(member)
    event = paid(client, sandbox, [(product.id, 2)])  # 10,000
    start = threading.Barrier(10)

    def refund(i):
        mine = APIClient()
        mine.force_authenticate(member)
        if i < 10:
            start.wait()
        return cancel(mine, event.order_id, {"amount": 1000}).status_code

    statuses = in_threads(20, 10, refund)

    assert statuses.count(200) == 10, sorted(statuses)
    assert statuses.count(409) == 10
    event.refresh_from_db()
    assert (event.status, event.canceled_amount, event.refund_reserved) == ("CANCELED", 10000, 0)
    assert pg_cancelled(sandbox, event) == [1000] * 10


def test_the_payment_shows_its_refunds(member_client, sandbox, product):
    event = paid(member_client, sandbox, [(product.id, 3)])
    one = {"items": [{"productId": product.id, "quantity": 1}], "reason": "색상 변경"}
    assert cancel(member_client, event.order_id, one).status_code == 200
    assert cancel(member_client, event.order_id, {"amount": 2000}).status_code == 200

    detail = member_client.get(f"/api/v1/payments/{event.order_id}").json()

    assert (detail["status"], detail["canceledAmount"], detail["balanceAmount"]) == (
        "PARTIAL_CANCELED",
        7000,
        8000,
    )
    assert [(r["amount"], r["status"], r["items"], r["reason"]) for r in detail["refunds"]] == [
        (5000, "SUCCEEDED", [{"productId": product.id, "quantity": 1}], "색상 변경"),
        (2000, "SUCCEEDED", [], "구매자 요청"),
    ]
    assert [h["to"] for h in detail["history"]][-2:] == ["PARTIAL_CANCELED", "PARTIAL_CANCELED"]


def test_units_whose_money_went_back_already_come_back_with_the_rest(
    member_client, sandbox, product
):
    other = ProductFactory(price=1000, stock=10)
    event = paid(member_client, sandbox, [(product.id, 1), (other.id, 2)])  # 5,000 + 2,000
    first = cancel(member_client, event.order_id, {"amount": 6000})  # 4,286 + 1,714
    assert first.status_code == 200, first.content
    both = {
        "items": [{"productId": product.id, "quantity": 1}, {"productId": other.id, "quantity": 2}]
    }

    answer = cancel(member_client, event.order_id, both)

    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "CANCELED"
    assert Product.objects.get(pk=product.pk).stock == 10
    assert Product.objects.get(pk=other.pk).stock == 10
    relay_all()
    assert ledger_check().ok


def test_a_key_used_for_one_orders_cancel_is_refused_for_another(member_client, sandbox, product):
    first = paid(member_client, sandbox, [(product.id, 1)])
    second = paid(member_client, sandbox, [(product.id, 1)])
    key = {"HTTP_IDEMPOTENCY_KEY": "refund-key-1"}

    assert cancel(member_client, first.order_id, {}, **key).status_code == 200
    again = cancel(member_client, second.order_id, {}, **key)

    assert again.status_code == 422 and again.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert PaymentEvent.objects.get(pk=second.pk).status == "SUCCESS"

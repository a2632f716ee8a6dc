"""Points at checkout (payments/services/checkout.py): spent like stock, the PG charged
the rest, an order the points cover paid at once, and every failure giving them back."""

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from ledger import accounts
from ledger.check import ledger_check
from ledger.models import Account, JournalEntry
from payments.models import CompensationJob, PaymentEvent
from payments.services import checkout
from payments.services.relay import relay_book_many, relay_claim
from products.models import Product
from tests.factories import MemberFactory, ProductFactory, SellerFactory, give_points
from tests.payments.helpers import confirm, in_threads, pg_confirms

pytestmark = [pytest.mark.processes, pytest.mark.django_db]


def buy(client, items, points=None, headers=None, **fields):
    body = {"gateway": "toss", "items": [{"productId": p, "quantity": q} for p, q in items]}
    if points is not None:
        body["pointsToUse"] = points
    return client.post(
        "/api/v1/payments/checkout", {**body, **fields}, format="json", **(headers or {})
    )


def relay_all() -> dict:
    return relay_book_many(message_ids=relay_claim(owner="test", limit=1000))


def postings_of(order_id: str) -> dict[str, dict[str, int]]:
    return {
        entry.kind: {p.account.code: p.amount for p in entry.postings.select_related("account")}
        for entry in JournalEntry.objects.filter(reference=order_id)
    }


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=10)


def test_goods_paid_partly_with_points_charge_the_pg_the_rest(member, member_client, sandbox):
    cheap = ProductFactory(
        price=3000, stock=5, seller=SellerFactory(commission_rate=Decimal("0.05"))
    )
    dear = ProductFactory(price=4999, stock=5)  # the default 10 %: 999.8 rounds down to 999
    give_points(member, 10000)

    answer = buy(member_client, [(cheap.id, 1), (dear.id, 1)], points=4000).json()
    assert (answer["amount"], answer["pointsUsed"], answer["status"]) == (3999, 4000, "NOT_STARTED")
    member.refresh_from_db()
    assert member.point_balance == 6000  # held from checkout on
    key = sandbox.authorize(answer["orderId"], 3999)
    assert confirm(member_client, answer["orderId"], key, 3999).json()["status"] == "SUCCESS"

    assert relay_all()["booked"] == 1
    entries = postings_of(answer["orderId"])
    assert entries["POINTS_SPENT"] == {
        accounts.member_points(member.pk): 4000,
        accounts.member_points_held(member.pk): -4000,
    }
    assert entries["GOODS_PAID"] == {
        "pg_receivable:toss": 3999,
        accounts.member_points_held(member.pk): 4000,
        accounts.seller_payable(cheap.seller_id): -(3000 - 150),
        accounts.seller_payable(dear.seller_id): -(4999 - 499),
        accounts.COMMISSION: -(150 + 499),
    }
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.is_payment_done and all(
        line.ledger_updated and line.wallet_updated for line in event.lines.all()
    )
    detail = member_client.get(f"/api/v1/payments/{answer['orderId']}").json()
    assert (detail["amount"], detail["pointsUsed"]) == (3999, 4000)
    assert ledger_check().ok


def test_an_order_the_points_cover_is_paid_at_once_without_the_pg(
    member, member_client, sandbox, product
):
    give_points(member, 12000)

    response = buy(
        member_client, [(product.id, 2)], points=10000, headers={"HTTP_IDEMPOTENCY_KEY": "k1"}
    )

    assert response.status_code == 201
    answer = response.json()
    assert (answer["status"], answer["amount"], answer["pointsUsed"]) == ("SUCCESS", 0, 10000)
    assert sandbox.requests_for(answer["orderId"]) == []
    replay = buy(
        member_client, [(product.id, 2)], points=10000, headers={"HTTP_IDEMPOTENCY_KEY": "k1"}
    )
    assert replay.json() == answer
    assert relay_all()["booked"] == 1
    assert "pg_receivable:toss" not in postings_of(answer["orderId"])["GOODS_PAID"]
    member.refresh_from_db()
    assert member.point_balance == 2000
    assert ledger_check().ok


def test_a_replay_after_the_request_died_past_its_success_answers_success(
    member, member_client, product
):
    # The first request recorded SUCCESS and died before it stored that answer (a kill -9
    # in the crash test): the replay must not hand back the stored NOT_STARTED.
    give_points(member, 12000)
    key = {"HTTP_IDEMPOTENCY_KEY": "k-died"}
    with (
        mock.patch.object(checkout, "idempotency_update", side_effect=RuntimeError("killed")),
        pytest.raises(RuntimeError),
    ):
        buy(member_client, [(product.id, 2)], points=10000, headers=key)
    event = PaymentEvent.objects.get()
    assert event.status == "SUCCESS"

    replay = buy(member_client, [(product.id, 2)], points=10000, headers=key)

    assert replay.status_code == 201
    assert (replay.json()["orderId"], replay.json()["status"]) == (event.order_id, "SUCCESS")
    assert buy(member_client, [(product.id, 2)], points=10000, headers=key).json() == replay.json()
    member.refresh_from_db()
    assert member.point_balance == 2000  # spent once


def test_a_replay_after_the_request_died_before_its_success_pays_it(member, member_client, product):
    give_points(member, 12000)
    key = {"HTTP_IDEMPOTENCY_KEY": "k-died-early"}
    with (
        mock.patch.object(checkout, "payment_record_outcome", side_effect=RuntimeError("killed")),
        pytest.raises(RuntimeError),
    ):
        buy(member_client, [(product.id, 2)], points=10000, headers=key)
    assert PaymentEvent.objects.get().status == "NOT_STARTED"

    replay = buy(member_client, [(product.id, 2)], points=10000, headers=key)

    assert replay.json()["status"] == "SUCCESS"
    assert PaymentEvent.objects.get().status == "SUCCESS"


def test_too_few_points_is_409_and_takes_nothing(member, member_client, product):
    give_points(member, 999)

    response = buy(member_client, [(product.id, 1)], points=1000)

    assert response.status_code == 409 and response.json()["code"] == "INSUFFICIENT_POINTS"
    assert Product.objects.get(pk=product.pk).stock == 10
    assert not PaymentEvent.objects.exists()
    member.refresh_from_db()
    assert member.point_balance == 999


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pointsToUse": 5001}, "pointsToUse"),  # more than the order's total
        ({"pointsToUse": -1}, "pointsToUse"),
        ({"pointsToUse": "100"}, "pointsToUse"),
        ({"pointsToUse": 1.5}, "pointsToUse"),
    ],
)
def test_bad_points_are_400(member, member_client, product, body, field):
    give_points(member, 100000)
    response = buy(member_client, [(product.id, 1)], **body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert Product.objects.get(pk=product.pk).stock == 10


def test_points_cannot_pay_for_a_point_charge(member, member_client):
    give_points(member, 5000)
    body = {"gateway": "toss", "purpose": "POINT_CHARGE", "amount": 10000, "pointsToUse": 1000}
    response = member_client.post("/api/v1/payments/checkout", body, format="json")
    assert response.status_code == 400 and "pointsToUse" in response.json()["fields"]


def test_a_failed_order_gives_its_points_back_with_its_stock_once(
    member, member_client, sandbox, product
):
    give_points(member, 3000)
    answer = buy(member_client, [(product.id, 1)], points=3000).json()
    key = sandbox.authorize(answer["orderId"], 2000)

    tampered = confirm(member_client, answer["orderId"], key, 1000)  # not what checkout stored

    assert tampered.status_code == 400
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    assert event.status == "FAILURE" and event.compensation.status == CompensationJob.Status.DONE
    member.refresh_from_db()
    assert member.point_balance == 3000
    assert Product.objects.get(pk=product.pk).stock == 10
    assert postings_of(answer["orderId"])["POINTS_RETURNED"] == {
        accounts.member_points_held(member.pk): 3000,
        accounts.member_points(member.pk): -3000,
    }
    assert pg_confirms(sandbox, answer["orderId"]) == []
    assert Account.objects.get(code=accounts.member_points_held(member.pk)).balance == 0
    assert ledger_check().ok


def test_a_top_up_credits_the_points_once_and_lists_the_movements(member, member_client, sandbox):
    body = {"gateway": "toss", "purpose": "POINT_CHARGE", "amount": 50000}
    answer = member_client.post("/api/v1/payments/checkout", body, format="json").json()
    key = sandbox.authorize(answer["orderId"], 50000)
    confirm(member_client, answer["orderId"], key, 50000)
    me = APIClient()
    me.force_authenticate(MemberFactory._meta.model.objects.get(pk=member.pk))
    assert me.get("/api/v1/members/me").json()["pointBalance"] == 0  # not booked yet

    assert relay_all() == {"booked": 1, "already_done": 0, "failed": 0, "parked": 0}
    assert relay_all()["booked"] == 0

    me.force_authenticate(MemberFactory._meta.model.objects.get(pk=member.pk))
    assert me.get("/api/v1/members/me").json()["pointBalance"] == 50000
    (movement,) = member_client.get("/api/v1/members/me/points").json()["results"]
    assert (movement["kind"], movement["orderId"], movement["points"]) == (
        "TOP_UP_PAID",
        answer["orderId"],
        50000,
    )
    other = APIClient()
    other.force_authenticate(MemberFactory())
    assert other.get("/api/v1/members/me/points").json()["results"] == []


# --- real threads on the real database: the conditional UPDATE decides the race ----------


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_checkouts_spending_10000_points_by_1000_make_exactly_10():
    member = MemberFactory()
    give_points(member, 10000)
    product = ProductFactory(price=1000, stock=1000)
    start = threading.Barrier(32)

    def spend(i):
        client = APIClient()
        client.force_authenticate(member)
        if i < 32:
            start.wait()  # the first wave hits at once
        return buy(client, [(product.id, 1)], points=1000).status_code

    with override_settings(CHECKOUT_MAX_OPEN_PER_MEMBER=1000, CHECKOUT_MAX_HELD_PER_PRODUCT=1000):
        statuses = in_threads(200, 32, spend)

    assert statuses.count(201) == 10, sorted(set(statuses))
    assert statuses.count(409) == 190
    member.refresh_from_db()
    assert member.point_balance == 0
    assert PaymentEvent.objects.filter(status="SUCCESS", points_used=1000).count() == 10
    assert Product.objects.get(pk=product.pk).stock == 990
    assert JournalEntry.objects.filter(kind="POINTS_SPENT").count() == 10
    assert ledger_check().ok

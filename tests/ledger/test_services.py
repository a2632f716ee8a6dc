"""ledger/services.py and ledger/models.py: one entry per event, balanced, frozen, cached."""

import threading

import pytest
from django.db import transaction

from config.errors import DomainError
from ledger import accounts
from ledger.check import ledger_check
from ledger.models import Account, ImmutableError, JournalEntry, Posting
from ledger.services import entry_post, points_give_back, points_spend
from tests.factories import MemberFactory, SellerFactory
from tests.payments.helpers import in_threads

pytestmark = pytest.mark.django_db


def balance(code: str) -> int:
    return Account.objects.get(code=code).balance


def test_an_entry_writes_its_postings_and_every_balance_once():
    seller = SellerFactory()
    receivable, payable = accounts.pg_receivable("toss"), accounts.seller_payable(seller.pk)
    postings = [(receivable, 10000), (payable, -9000), (accounts.COMMISSION, -1000)]

    assert entry_post(kind="GOODS_PAID", reference="ord-1", postings=postings)
    # A replay (the relay retried, a second relay): "exists", and nothing changes.
    assert not entry_post(kind="GOODS_PAID", reference="ord-1", postings=postings)

    assert JournalEntry.objects.count() == 1 and Posting.objects.count() == 3
    assert (balance(receivable), balance(payable), balance(accounts.COMMISSION)) == (
        10000,
        -9000,
        -1000,
    )
    wallet = Account.objects.get(code=payable)
    assert (wallet.kind, wallet.owner, wallet.seller_id, wallet.normal_balance) == (
        "LIABILITY",
        "seller",
        seller.pk,
        9000,
    )


def test_an_entry_that_does_not_balance_writes_nothing():
    with pytest.raises(ValueError, match="does not balance"):
        entry_post(
            kind="GOODS_PAID",
            reference="ord-2",
            postings=[(accounts.pg_receivable("toss"), 100), (accounts.COMMISSION, -99)],
        )
    assert not JournalEntry.objects.exists() and not Account.objects.exists()


def test_postings_to_one_account_are_summed_and_zeros_dropped():
    member = MemberFactory()
    entry_post(
        kind="TOP_UP_PAID",
        reference="ord-3",
        postings=[
            (accounts.pg_receivable("nicepay"), 3000),
            (accounts.pg_receivable("nicepay"), 2000),
            (accounts.member_points_held(member.pk), 0),
            (accounts.member_points(member.pk), -5000),
        ],
    )
    assert sorted(Posting.objects.values_list("amount", flat=True)) == [-5000, 5000]


def test_the_member_points_account_and_the_cached_balance_move_together():
    member = MemberFactory()
    entry_post(
        kind="TOP_UP_PAID",
        reference="ord-top-up",
        postings=[
            (accounts.pg_receivable("toss"), 5000),
            (accounts.member_points(member.pk), -5000),
        ],
    )
    member.refresh_from_db()
    assert member.point_balance == 5000

    points_spend(member_id=member.pk, points=3000, order_id="ord-buy")
    member.refresh_from_db()
    assert member.point_balance == 2000
    assert balance(accounts.member_points_held(member.pk)) == -3000

    assert points_give_back(member_id=member.pk, points=3000, order_id="ord-buy")
    assert not points_give_back(member_id=member.pk, points=3000, order_id="ord-buy")
    member.refresh_from_db()
    assert member.point_balance == 5000 == -balance(accounts.member_points(member.pk))
    assert balance(accounts.member_points_held(member.pk)) == 0


def test_spending_more_points_than_there_are_raises_and_the_caller_rolls_back():
    member = MemberFactory()
    with pytest.raises(DomainError) as refused, transaction.atomic():
        points_spend(member_id=member.pk, points=1, order_id="ord-x")
    assert refused.value.code == "INSUFFICIENT_POINTS"
    member.refresh_from_db()
    assert member.point_balance == 0
    assert not JournalEntry.objects.exists()


def test_entries_and_postings_are_never_changed_or_deleted():
    entry_post(
        kind="GOODS_PAID",
        reference="ord-4",
        postings=[(accounts.pg_receivable("toss"), 1), (accounts.COMMISSION, -1)],
    )
    entry = JournalEntry.objects.get()
    posting = Posting.objects.first()
    entry.memo = "edited"
    for attempt in (
        entry.save,
        entry.delete,
        posting.save,
        posting.delete,
        lambda: JournalEntry.objects.update(memo="x"),
        lambda: JournalEntry.objects.all().delete(),
        lambda: Posting.objects.filter(pk=posting.pk).update(amount=5),
        lambda: Posting.objects.all().delete(),
    ):
        with pytest.raises(ImmutableError):
            attempt()
    assert JournalEntry.objects.get().memo == ""


@pytest.mark.parametrize(
    "code",
    ["nothing:1", "points:", "points:abc", "revenue:other", "seller_payable:x", "bank:1"],
)
def test_a_code_the_chart_does_not_have_is_refused(code):
    with pytest.raises(ValueError):
        accounts.account_spec(code)


@pytest.mark.django_db(transaction=True)
def test_concurrent_entries_on_shared_accounts_never_deadlock():
    # Every goods entry credits revenue:commission and debits the PG's receivable: the
    # busiest rows in the books. Eight writers at once must all go through first time
    # (InnoDB once found a deadlock on almost every other one: docs/books.md).
    sellers = [SellerFactory().pk for _ in range(4)]
    start = threading.Barrier(8)

    def post(i):
        if i < 8:
            start.wait()
        with transaction.atomic():
            return entry_post(
                kind="GOODS_PAID",
                reference=f"ord-busy-{i}",
                postings=[
                    (accounts.pg_receivable("toss"), 1000),
                    (accounts.seller_payable(sellers[i % 4]), -900),
                    (accounts.COMMISSION, -100),
                ],
            )

    assert in_threads(400, 8, post) == [True] * 400
    assert balance(accounts.COMMISSION) == -40000
    assert ledger_check().ok

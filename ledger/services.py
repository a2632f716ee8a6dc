"""Writing the books: one entry per business event, with its postings and balances.

entry_post is the only writer of postings, of Account.balance and of
Member.point_balance. Run it inside the transaction of the event it records (the
checkout that spends points, the stock restore that gives them back, the outbox relay
that books a payment): the entry, its postings and every balance it changes commit
together or not at all.

Balances change with one UPDATE per account, in account-id order, so two entries never
deadlock on each other's rows. A posting that lowers a member's points is conditional
(`point_balance >= n`), exactly like stock: points never go below zero, and spending
more than there is raises INSUFFICIENT_POINTS and rolls the caller's transaction back.
"""

from django.db import transaction
from django.db.models import F

from config.errors import DomainError
from ledger import accounts
from ledger.models import Account, JournalEntry, Posting
from members.models import Member


def entry_post(
    *, kind: str, reference: str, postings: list[tuple[str, int]], memo: str = ""
) -> bool:
    """Record the entry (kind, reference) with `postings` (account code, signed KRW).

    True if written; False if the books already have it (a replay adds nothing).
    Postings to one account are summed and zeros dropped; ValueError if they do not sum
    to zero (a bug: nothing is written).
    """
    totals: dict[str, int] = {}
    for code, amount in postings:
        totals[code] = totals.get(code, 0) + int(amount)
    totals = {code: amount for code, amount in totals.items() if amount}
    if sum(totals.values()) != 0:
        raise ValueError(f"entry {kind} {reference} does not balance: {totals}")
    with transaction.atomic(savepoint=False):
        if JournalEntry.objects.filter(kind=kind, reference=reference).exists():
            return False
        entry = JournalEntry.objects.create(kind=kind, reference=reference, memo=memo[:200])
        ids = _account_ids(list(totals))
        # Balances first, in account-id order, then the postings. The other way round,
        # each posting's foreign-key check takes a shared lock on its account, and two
        # relays holding shared locks on a busy account (revenue:commission) both wait
        # to upgrade them: InnoDB found a deadlock on almost every other booking.
        for code in sorted(totals, key=ids.__getitem__):
            _apply(ids[code], accounts.account_spec(code), totals[code])
        Posting.objects.bulk_create(
            Posting(entry=entry, account_id=ids[code], amount=amount)
            for code, amount in totals.items()
        )
    return True


def points_spend(*, member_id: int, points: int, order_id: str, kind: str = "POINTS_SPENT") -> None:
    """Move `points` from what the member can spend to what is held for `order_id` (an
    order at checkout; a top-up's refund, kind REFUND_POINTS_HELD, while the PG is asked).

    DomainError INSUFFICIENT_POINTS if the member has fewer.
    """
    entry_post(
        kind=kind,
        reference=order_id,
        postings=[
            (accounts.member_points(member_id), points),
            (accounts.member_points_held(member_id), -points),
        ],
    )


def points_give_back(
    *, member_id: int, points: int, order_id: str, kind: str = "POINTS_RETURNED"
) -> bool:
    """Give held points back to the member (a failed order's; a refused refund's, kind
    REFUND_POINTS_RELEASED); once (False if already given)."""
    return entry_post(
        kind=kind,
        reference=order_id,
        postings=[
            (accounts.member_points_held(member_id), points),
            (accounts.member_points(member_id), -points),
        ],
    )


def _apply(account_id: int, spec: accounts.AccountSpec, amount: int) -> None:
    Account.objects.filter(pk=account_id).update(balance=F("balance") + amount)
    if not spec.is_member_points:
        return
    # A credit to the points account is points the member gains.
    gained = -amount
    members = Member.objects.filter(pk=spec.member_id)
    if gained < 0:
        members = members.filter(point_balance__gte=-gained)
    if not members.update(point_balance=F("point_balance") + gained):
        raise DomainError("INSUFFICIENT_POINTS", "Not enough points.", pointsNeeded=-gained)


def _account_ids(codes: list[str]) -> dict[str, int]:
    """The accounts' ids, making any that do not exist yet (one query when all do)."""
    found = dict(Account.objects.filter(code__in=codes).values_list("code", "id"))
    missing = [accounts.account_spec(code) for code in codes if code not in found]
    if missing:
        Account.objects.bulk_create(
            [
                Account(
                    code=s.code,
                    kind=s.kind,
                    owner=s.owner,
                    gateway=s.gateway,
                    seller_id=s.seller_id,
                    member_id=s.member_id,
                )
                for s in missing
            ],
            ignore_conflicts=True,  # another transaction made it first: use that one
        )
        found = dict(Account.objects.filter(code__in=codes).values_list("code", "id"))
    return found


def settlement_fees_book(*, gateway: str, day: str, fee: int) -> bool:
    """What the PG kept of a day's transactions (정산대사): an expense, taken from what it
    owes us. A day whose cancels gave back more fee than its approvals cost books a
    negative fee. Once per gateway and day (False if already booked or nothing to book)."""
    if not fee:
        return False
    return entry_post(
        kind="PG_FEES",
        reference=f"{gateway}:{day}",
        postings=[(accounts.pg_fees(gateway), fee), (accounts.pg_receivable(gateway), -fee)],
        memo=f"{gateway} fees of {day}",
    )


def settlement_payout_book(*, gateway: str, day: str, payout: int) -> bool:
    """The PG's payout of a day's transactions reaching our bank on its payout date: it
    owes us that much less. Once per gateway and day."""
    if not payout:
        return False
    return entry_post(
        kind="PG_PAYOUT",
        reference=f"{gateway}:{day}",
        postings=[(accounts.BANK, payout), (accounts.pg_receivable(gateway), -payout)],
        memo=f"{gateway} payout of {day}",
    )

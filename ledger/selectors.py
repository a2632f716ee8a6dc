from django.db.models import QuerySet, Sum

from ledger import accounts
from ledger.models import Account, JournalEntry, Posting


def member_point_movements(*, member_id: int) -> QuerySet[Posting]:
    """The member's point movements (postings to points:<id>), newest first."""
    return (
        Posting.objects.filter(account__code=accounts.member_points(member_id))
        .select_related("entry")
        .order_by("-id")
    )


def entries_for_reference(*, reference: str) -> QuerySet[JournalEntry]:
    """A payment's journal entries (reference: its orderId), with their postings."""
    return (
        JournalEntry.objects.filter(reference=reference)
        .prefetch_related("postings__account")
        .order_by("id")
    )


def trial_balance() -> dict:
    """Every account's cached balance by kind, and the total (zero when the books balance)."""
    rows = list(Account.objects.order_by("kind", "code").values("code", "kind", "balance"))
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["balance"]
    return {"accounts": rows, "by_kind": by_kind, "total": sum(by_kind.values())}


def postings_total() -> int:
    """The sum of every posting ever written: zero when every entry balances."""
    return Posting.objects.aggregate(total=Sum("amount"))["total"] or 0

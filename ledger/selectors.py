from django.db.models import Case, CharField, Count, F, QuerySet, Sum, Value, When

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
    """Balances by account family (the code up to its ":", per gateway: every seller's
    wallet is one "seller_payable:" row), subtotals by kind, and the total (zero when the
    books balance). Grouped in the database, so a million members make one row, not a million."""
    family = Case(
        *[When(code__startswith=f"{name}:", then=Value(f"{name}:")) for name in accounts.FAMILIES],
        default=F("code"),
        output_field=CharField(),
    )
    rows = list(
        Account.objects.annotate(family=family)
        .values("kind", "family", "gateway")
        .annotate(accounts=Count("id"), balance=Sum("balance"))
        .order_by("kind", "family", "gateway")
    )
    by_kind: dict[str, int] = {}
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["balance"]
    return {"rows": rows, "by_kind": by_kind, "total": sum(by_kind.values())}


def postings_total() -> int:
    """The sum of every posting ever written: zero when every entry balances."""
    return Posting.objects.aggregate(total=Sum("amount"))["total"] or 0

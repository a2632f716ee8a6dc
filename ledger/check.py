"""Proving the books: what `manage.py ledger_check` reports.

Three facts, each one aggregate query, so a check of millions of postings stays a few
index scans: every entry's postings sum to zero (and so do all postings together);
every account's cached balance equals the sum of its postings; every member's
point_balance equals what its points account says the platform owes it.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Sum

from ledger import accounts
from ledger.models import Account, JournalEntry, Posting
from members.models import Member


@dataclass
class CheckReport:
    entries: int = 0
    accounts: int = 0
    total: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_check(*, limit: int = 50) -> CheckReport:
    """Check the books; at most `limit` problems of each kind are listed."""
    report = CheckReport(entries=JournalEntry.objects.count(), accounts=Account.objects.count())
    unbalanced = (
        Posting.objects.values("entry_id", "entry__kind", "entry__reference")
        .annotate(total=Sum("amount"), n=Count("id"))
        .exclude(total=0)
        .order_by("entry_id")
    )
    for row in unbalanced[:limit]:
        report.problems.append(
            f"entry {row['entry_id']} ({row['entry__kind']} {row['entry__reference']}) "
            f"sums to {row['total']:+d}, not 0"
        )
    report.total = Posting.objects.aggregate(total=Sum("amount"))["total"] or 0
    if report.total:
        report.problems.append(f"all postings sum to {report.total:+d}, not 0")
    sums = dict(Posting.objects.values_list("account_id").annotate(total=Sum("amount")).order_by())
    for account_id, code, balance in Account.objects.values_list("id", "code", "balance"):
        if balance != sums.get(account_id, 0):
            report.problems.append(
                f"account {code}: cached balance {balance}, postings {sums.get(account_id, 0)}"
            )
    report.problems += _member_points_problems(limit)
    return report


def _member_points_problems(limit: int) -> list[str]:
    owed = {
        member_id: -balance
        for member_id, balance in Account.objects.filter(
            code__startswith="points:", member__isnull=False
        ).values_list("member_id", "balance")
    }
    problems = []
    cached = Member.objects.exclude(point_balance=0).values_list("id", "point_balance")
    seen = set()
    for member_id, balance in cached.iterator():
        seen.add(member_id)
        if balance != owed.get(member_id, 0):
            problems.append(_points_problem(member_id, balance, owed.get(member_id, 0)))
    for member_id, points in owed.items():
        if member_id not in seen and points != 0:
            problems.append(_points_problem(member_id, 0, points))
    return problems[:limit]


def _points_problem(member_id: int, cached: int, owed: int) -> str:
    code = accounts.member_points(member_id)
    return f"member {member_id}: point_balance {cached}, but {code} owes {owed}"

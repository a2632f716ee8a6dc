"""The books of a reconciled day (정산대사): the PG's fees as an expense at once, and its
payout moving pg_receivable:<gateway> to bank on the payout date.

One entry of each per gateway and day (ledger.services: unique on kind and reference),
and a flag on the run written in the same transaction, so a re-run books nothing twice
and a crash between the two leaves neither.
"""

from datetime import date

from django.db import transaction

from ledger.services import settlement_fees_book, settlement_payout_book
from payments.models import ReconciliationRun, RunStatus


def books_record_settlement(*, run: ReconciliationRun, today: date) -> None:
    """Book a finished run's fees, and its payout if the payout date has come."""
    if not run.fees_booked:
        with transaction.atomic(durable=True):
            settlement_fees_book(gateway=run.gateway, day=run.day.isoformat(), fee=run.fee)
            ReconciliationRun.objects.filter(pk=run.pk).update(fees_booked=True)
        run.fees_booked = True
    if not run.payout_booked and run.payout_date is not None and run.payout_date <= today:
        _book_payout(run)


def books_payouts_due(*, today: date) -> int:
    """Book every finished run's payout whose date has come; how many were booked."""
    due = ReconciliationRun.objects.filter(
        status=RunStatus.DONE, fees_booked=True, payout_booked=False, payout_date__lte=today
    )
    runs = list(due.order_by("payout_date", "pk"))
    for run in runs:
        _book_payout(run)
    return len(runs)


def _book_payout(run: ReconciliationRun) -> None:
    with transaction.atomic(durable=True):
        if not ReconciliationRun.objects.filter(pk=run.pk, payout_booked=False).update(
            payout_booked=True
        ):
            return  # booked by another process meanwhile
        settlement_payout_book(gateway=run.gateway, day=run.day.isoformat(), payout=run.payout)
    run.payout_booked = True

"""Reconciliation of one gateway's Korean day against the PG's own records.

거래대사 (transactions): every approval and cancel the PG recorded that day is matched to
our payment (by orderId) and refund (by the PG's transaction key); then our payments
approved and refunds completed that day that the PG did not show are looked up at the PG
one by one. 정산대사 (settlement): the PG's fees and payout for the day are summed and
booked (fees at once, the payout on its payout date: reconcile_books.py).

Records are read in chunks of CHUNK, with one query for the chunk's payments, one for
its refunds and one for what earlier runs of the day found, so memory holds one chunk
plus the orderIds and transaction keys seen (for the reverse look), never the day.

Each difference is a Discrepancy (payments.models.reconciliation). The safe ones are
fixed through the existing paths, with their history rows (reconcile_fix.py); the
others stay OPEN for an operator. A difference an earlier run of the day already
recorded is left as it is, so running a day again adds and changes nothing; one an
earlier run left OPEN that is now in line (an operator or recovery settled it) is
closed as RESOLVED.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import islice
from pathlib import Path

import structlog
from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from config.errors import DomainError
from payments.models import (
    Discrepancy,
    DiscrepancyStatus,
    PaymentEvent,
    ReconciliationRun,
    Refund,
    RefundStatus,
    RunStatus,
)
from payments.models import DiscrepancyKind as K
from payments.models import PaymentStatus as S
from payments.services.pg import (
    TX_APPROVAL,
    PgTransaction,
    pg_check_file,
    pg_day_records,
    pg_reconciles_from_file,
    pg_settlement_file,
)
from payments.services.reconcile_books import books_payouts_due, books_record_settlement
from payments.services.reconcile_fix import (
    FIXABLE,
    KST,
    PAID,
    Finding,
    fix_finding,
    given_back,
    look_again,
)

log = structlog.get_logger(__name__)
CHUNK = 500
ACTOR = "reconciliation"
# A refund still being worked on: its cancel may be at the PG before we record its key.
REFUND_IN_FLIGHT = frozenset({RefundStatus.REQUESTED, RefundStatus.EXECUTING, RefundStatus.UNKNOWN})


@dataclass
class RunReport:
    gateway: str
    day: date
    dry_run: bool
    records: int = 0
    matched: int = 0
    new: list[Finding] = field(default_factory=list)  # found by this run
    known: int = 0  # found by an earlier run of the day, left as they were
    resolved: int = 0  # earlier OPEN ones now in line
    run: ReconciliationRun | None = None

    @property
    def fixed(self) -> int:
        return sum(f.status == DiscrepancyStatus.FIXED for f in self.new)

    @property
    def open(self) -> int:
        return sum(f.status == DiscrepancyStatus.OPEN for f in self.new)


def reconcile_day(
    *,
    gateway: str,
    day: date,
    path: Path | None = None,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> RunReport:
    """Reconcile `gateway`'s `day`; `path` is its settlement file (NicePay, KakaoPay).

    DomainError BAD_SETTLEMENT_FILE (line and reason) before anything is written if the
    file is bad, SETTLEMENT_FILE_REQUIRED without one, GATEWAY_UNAVAILABLE if the PG's
    API cannot be read (the run is then FAILED, with what it had fixed kept: every fix
    is whole on its own, and the next run goes on from there).
    """
    if pg_reconciles_from_file(gateway):
        if path is None:
            raise DomainError("SETTLEMENT_FILE_REQUIRED", f"{gateway} has no API: give its file")
        try:
            pg_check_file(gateway, path, day)  # the whole file, before anything is applied
        except DomainError as exc:
            if not dry_run:
                _run_not_done(gateway, day, RunStatus.REFUSED, exc.message, source=path.name)
            raise
    report = RunReport(gateway=gateway, day=day, dry_run=dry_run)
    run = None if dry_run else _run_start(gateway, day, path)
    report.run = run
    transactions, settlements = pg_day_records(gateway, day, path=path)
    try:
        seen_orders, seen_keys = _match_records(report, transactions, progress)
        _look_for_ours(report, seen_orders, seen_keys)
        totals = _settlement_totals(settlements)
    except DomainError as exc:
        if run is not None:
            _run_end(run, report, status=RunStatus.FAILED, error=exc.message)
        raise
    if run is not None:
        _run_end(run, report, status=RunStatus.DONE, totals=totals)
        books_record_settlement(run=run, today=timezone.now().astimezone(KST).date())
    log.info(
        "reconciliation_done",
        gateway=gateway,
        day=day.isoformat(),
        records=report.records,
        matched=report.matched,
        fixed=report.fixed,
        open=report.open,
        dry_run=dry_run,
    )
    return report


def reconcile_yesterday() -> dict[str, str]:
    """The nightly job: yesterday (KST) for every gateway, then the payouts now due.
    One gateway's failure (the PG down, its file missing or bad) does not stop the
    others; it is logged, and the missing run raises the ReconciliationMissing alert."""
    today = timezone.now().astimezone(KST).date()
    day = today - timedelta(days=1)
    results = {}
    for gateway in settings.PAYMENT_GATEWAYS:
        try:
            path = pg_settlement_file(gateway, day) if pg_reconciles_from_file(gateway) else None
            report = reconcile_day(gateway=gateway, day=day, path=path)
            results[gateway] = f"{report.records} records, {report.fixed} fixed, {report.open} open"
        except DomainError as exc:
            if exc.code == "SETTLEMENT_FILE_MISSING":
                _run_not_done(gateway, day, RunStatus.FAILED, exc.message)
            log.error("reconciliation_failed", gateway=gateway, day=day.isoformat(), code=exc.code)
            results[gateway] = f"{exc.code}: {exc.message}"
    books_payouts_due(today=today)
    return results


def _run_not_done(gateway: str, day: date, status: str, error: str, *, source: str = "") -> None:
    """Record on the day's run that an attempt never started comparing (its file refused
    or missing), for the admin: nothing else is written. What an earlier run found and
    booked stays; running the day again with a good file makes it DONE."""
    run, _ = ReconciliationRun.objects.get_or_create(gateway=gateway, day=day)
    now = timezone.now()
    run.status, run.error, run.source = status, error[:300], source[:200]
    run.times_run += 1
    run.started_at = run.finished_at = now
    run.save(update_fields=["status", "error", "source", "times_run", "started_at", "finished_at"])


def _run_start(gateway: str, day: date, path: Path | None) -> ReconciliationRun:
    run, _ = ReconciliationRun.objects.get_or_create(gateway=gateway, day=day)
    run.status = RunStatus.RUNNING
    run.source = path.name if path else "API"
    run.error = ""
    run.times_run += 1
    run.started_at = timezone.now()
    run.save(update_fields=["status", "source", "error", "times_run", "started_at"])
    return run


def _run_end(
    run: ReconciliationRun,
    report: RunReport,
    *,
    status: str,
    error: str = "",
    totals: dict | None = None,
) -> None:
    run.status, run.error, run.finished_at = status, error[:300], timezone.now()
    run.records, run.matched = report.records, report.matched
    fields = ["status", "error", "finished_at", "records", "matched"]
    if totals is not None and not run.fees_booked:
        # Once booked, a day's totals stay what was booked (a PG's day does not change).
        for name, value in totals.items():
            setattr(run, name, value)
        run.expected_payout = run.payout + _our_minus_pg(run)
        fields += [*totals, "expected_payout"]
    run.save(update_fields=fields)


def _our_minus_pg(run: ReconciliationRun) -> int:
    """What our records hold beyond the PG's, over the run's differences: the payout we
    should get if the PG had our records (before fees on what it lacks)."""
    sums = run.found.aggregate(ours=Sum("our_amount"), pgs=Sum("pg_amount"))
    return (sums["ours"] or 0) - (sums["pgs"] or 0)


def _chunks(records: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(records, size)):
        yield chunk


def _match_records(
    report: RunReport,
    transactions: Iterator[PgTransaction],
    progress: Callable[[int], None] | None,
) -> tuple[set[str], set[str]]:
    """Match the PG's records chunk by chunk; the orderIds approved and the cancels'
    transaction keys seen, for the reverse look."""
    seen_orders: set[str] = set()
    seen_keys: set[str] = set()
    for chunk in _chunks(transactions, CHUNK):
        events = {
            e.order_id: e
            for e in PaymentEvent.objects.filter(order_id__in={tx.order_id for tx in chunk})
        }
        cancel_keys = {tx.transaction_key for tx in chunk if tx.kind != TX_APPROVAL}
        refunds = _refunds(events.values(), cancel_keys)
        known = _known(report, {_reference(tx) for tx in chunk})
        for tx in chunk:
            report.records += 1
            if tx.kind == TX_APPROVAL:
                seen_orders.add(tx.order_id)
                finding = _compare_approval(report.gateway, tx, events.get(tx.order_id), refunds)
            else:
                seen_keys.add(tx.transaction_key)
                finding = _compare_cancel(report.gateway, tx, events.get(tx.order_id), refunds)
            _settle_finding(report, finding, known.get(_reference(tx), []), _reference(tx))
        if progress:
            progress(report.records)
    return seen_orders, seen_keys


def _reference(tx: PgTransaction) -> str:
    return tx.transaction_key


def _refunds(events, cancel_keys: set[str]) -> dict:
    """The chunk's refunds: by transaction key, and the ones in flight by payment id."""
    ids = [e.pk for e in events]
    rows = Refund.objects.filter(
        Q(pg_transaction_key__in=cancel_keys)
        | Q(event_id__in=ids, status__in=REFUND_IN_FLIGHT)
        | Q(event_id__in=ids, actor="system")
    )
    found: dict = {"by_key": {}, "in_flight": {}, "system": set()}
    for refund in rows:
        if refund.pg_transaction_key:
            found["by_key"][refund.pg_transaction_key] = refund
        if refund.status in REFUND_IN_FLIGHT:
            found["in_flight"].setdefault(refund.event_id, []).append(refund)
        # The system's refund of a false failure: the difference is fixed by it, even while
        # it waits for the buyer's bank account (AWAITING_ACCOUNT, the PG still holding
        # the money); that wait has its own gauge and alert.
        if refund.actor == "system" and refund.status != RefundStatus.FAILED:
            found["system"].add(refund.event_id)
    return found


def _compare_approval(
    gateway: str, tx: PgTransaction, event: PaymentEvent | None, refunds: dict
) -> Finding | None:
    if event is None or event.gateway != gateway:
        return Finding(K.UNKNOWN_ORDER, tx.order_id, pg_amount=tx.amount, our_amount=0)
    base = {"order_id": tx.order_id, "event": event, "pg_amount": tx.amount}
    if tx.amount != event.total_amount:
        return Finding(K.AMOUNT_MISMATCH, our_amount=event.total_amount, **base)
    if event.status in PAID:
        return None
    if event.status == S.FAILURE and (event.pk in refunds["system"] or given_back(event)):
        # A false failure refunded by itself, or an approval we cancelled (a net cancel,
        # the wrong amount): the PG shows that cancel too, and holds nothing of it.
        return None
    return Finding(K.APPROVED_NOT_SUCCESS, our_amount=0, tx=tx, **base)


def _compare_cancel(
    gateway: str, tx: PgTransaction, event: PaymentEvent | None, refunds: dict
) -> Finding | None:
    refund = refunds["by_key"].get(tx.transaction_key)
    if refund is not None and refund.event_id == getattr(event, "pk", None):
        if refund.status == RefundStatus.NEEDS_ATTENTION:
            return Finding(
                K.CANCEL_NOT_OURS,
                tx.order_id,
                event=event,
                refund=refund,
                pg_amount=-tx.amount,
                our_amount=-tx.amount,
                detail=f"recorded as refund {refund.pk}, waiting for an operator",
            )
        return None
    if event is None or event.gateway != gateway:
        return Finding(K.UNKNOWN_ORDER, tx.order_id, pg_amount=-tx.amount, our_amount=0)
    if event.status == S.FAILURE:
        # We hold nothing of a failed payment: a cancel of its approval is ours (a net
        # cancel, the wrong amount's) and right. Were anything still held at the PG, its
        # approval's record says so (_compare_approval).
        return None
    if any(r.pg_amount == tx.amount for r in refunds["in_flight"].get(event.pk, [])):
        return None  # our refund in flight: refund recovery records it, with this key
    return Finding(
        K.CANCEL_NOT_OURS, tx.order_id, event=event, pg_amount=-tx.amount, our_amount=0, tx=tx
    )


def _known(report: RunReport, references: set[str]) -> dict[str, list[Discrepancy]]:
    if report.run is None:
        run = ReconciliationRun.objects.filter(gateway=report.gateway, day=report.day).first()
        if run is None:
            return {}
    else:
        run = report.run
    found: dict[str, list[Discrepancy]] = {}
    for row in Discrepancy.objects.filter(run=run, reference__in=references):
        found.setdefault(row.reference, []).append(row)
    return found


def _settle_finding(
    report: RunReport, finding: Finding | None, known: list[Discrepancy], reference: str
) -> None:
    """Record a comparison's result: matched, already known, resolved meanwhile, or new."""
    if finding is None:
        report.matched += 1
        for row in known:
            if row.status == DiscrepancyStatus.OPEN and not report.dry_run:
                _resolve_in_line(row)
                report.resolved += 1
        return
    if any(row.kind == finding.kind for row in known):
        report.known += 1
        return
    finding.reference = reference
    if not report.dry_run:
        if finding.kind in FIXABLE:
            fix_finding(finding, actor=ACTOR)
        else:
            finding.status = DiscrepancyStatus.OPEN
        Discrepancy.objects.create(run=report.run, **finding.row())
    report.new.append(finding)


def _resolve_in_line(row: Discrepancy) -> None:
    Discrepancy.objects.filter(pk=row.pk, status=DiscrepancyStatus.OPEN).update(
        status=DiscrepancyStatus.RESOLVED,
        resolved_by=ACTOR,
        resolved_at=timezone.now(),
        resolution="in line with the PG on a later run",
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=KST)
    return start, start + timedelta(days=1)


def _look_for_ours(report: RunReport, seen_orders: set[str], seen_keys: set[str]) -> None:
    """Ours of the day the PG's records did not show: each looked up at the PG first, so
    one that the PG dated a second over midnight is not reported."""
    start, end = _day_bounds(report.day)
    payments = PaymentEvent.objects.filter(
        gateway=report.gateway,
        status__in=PAID,
        total_amount__gt=0,
        approved_at__gte=start,
        approved_at__lt=end,
    ).values_list("pk", "order_id")
    for pk, order_id in _pages(payments):
        if order_id not in seen_orders:
            event = PaymentEvent.objects.get(pk=pk)
            _settle_reverse(
                report, look_again(K.MISSING_AT_PG, event=event, day=report.day), order_id
            )
    refunds = Refund.objects.filter(
        event__gateway=report.gateway,
        status=RefundStatus.SUCCEEDED,
        pg_amount__gt=0,
        completed_at__gte=start,
        completed_at__lt=end,
    ).values_list("pk", "pg_transaction_key", "pg_idempotency_key")
    for pk, key, own_key in _pages(refunds):
        if key not in seen_keys:
            refund = Refund.objects.select_related("event").get(pk=pk)
            finding = look_again(
                K.REFUND_MISSING_AT_PG, event=refund.event, day=report.day, refund=refund
            )
            _settle_reverse(report, finding, key or own_key)


def _pages(rows, size: int = 2000) -> Iterator[tuple]:
    """`rows` (values_list starting with pk) a page at a time by primary key: bounded
    memory, and no cursor held open across the PG lookups a page may lead to."""
    last = 0
    while page := list(rows.filter(pk__gt=last).order_by("pk")[:size]):
        yield from page
        last = page[-1][0]


def _settle_reverse(report: RunReport, finding: Finding | None, reference: str) -> None:
    known = _known(report, {reference}).get(reference, [])
    _settle_finding(report, finding, known, reference)
    if finding is None:
        report.matched -= 1  # not one of the PG's records: only the resolving counts


def _settlement_totals(settlements) -> dict:
    totals = {"pg_amount": 0, "fee": 0, "payout": 0, "payout_date": None}
    for line in settlements:
        totals["pg_amount"] += line.amount
        totals["fee"] += line.fee
        totals["payout"] += line.payout_amount
        if totals["payout_date"] is None or line.payout_date > totals["payout_date"]:
            totals["payout_date"] = line.payout_date
    return totals

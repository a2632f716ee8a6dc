"""What reconciliation does about a difference it finds: the safe ones are fixed through
the paths every other caller uses, never around them, and each fix leaves its history
rows; everything else waits for an operator.

| difference                         | what the run does                                   |
| ---------------------------------- | --------------------------------------------------- |
| APPROVED_NOT_SUCCESS (NOT_STARTED, | asks the PG, records SUCCESS through the one settle  |
| EXECUTING, UNKNOWN, NEEDS_ATTENTION)| path (outbox, ledger, points), as a re-check would |
| APPROVED_NOT_SUCCESS (FAILURE)     | the false-failure rule: SUCCESS while its stock is   |
|                                    | held, else refunded in full (the refund path)        |
| CANCEL_NOT_OURS                    | a re-check records the PG's cancel as a Refund with  |
|                                    | actor pg (a partial one waits for its lines: OPEN)   |
| AMOUNT_MISMATCH, UNKNOWN_ORDER,    | OPEN: a person must decide                           |
| MISSING_AT_PG, REFUND_MISSING_AT_PG|                                                      |
"""

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from payments.models import DiscrepancyKind as K
from payments.models import DiscrepancyStatus, PaymentEvent, Refund, RefundStatus
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, judge
from payments.services.operator import payment_operator_recheck
from payments.services.pg import PgRecord, PgStatus, PgTransaction, pg_lookup
from payments.services.settle import payment_record_outcome
from payments.states import record_note

KST = ZoneInfo("Asia/Seoul")
FIXABLE = frozenset({K.APPROVED_NOT_SUCCESS, K.CANCEL_NOT_OURS})
NOTE = "RECONCILIATION"  # the history rows' reason for a look the run made
PAID = frozenset({S.SUCCESS, S.PARTIAL_CANCELED, S.CANCELED})
APPROVED = frozenset({PgStatus.APPROVED, PgStatus.PARTIALLY_CANCELED, PgStatus.CANCELED})


@dataclass
class Finding:
    """One difference, as found (and, once fixed or left, with its status and detail)."""

    kind: str
    order_id: str
    event: PaymentEvent | None = None
    refund: Refund | None = None
    pg_amount: int | None = None  # signed: a cancel's is negative
    our_amount: int | None = None
    detail: str = ""
    status: str = DiscrepancyStatus.OPEN
    reference: str = ""
    tx: PgTransaction | None = field(default=None, repr=False)

    def row(self) -> dict:
        return {
            "kind": self.kind,
            "reference": self.reference,
            "status": self.status,
            "order_id": self.order_id,
            "event": self.event,
            "refund": self.refund,
            "pg_amount": self.pg_amount,
            "our_amount": self.our_amount,
            "detail": (self.detail or self.kind)[:300],
        }


def fix_finding(finding: Finding, *, actor: str) -> None:
    """Fix a FIXABLE difference through the existing paths; its status and detail say
    what came of it (FIXED, or OPEN with why not)."""
    event = finding.event
    if finding.kind == K.APPROVED_NOT_SUCCESS:
        before = event.status
        said = _fix_approval(event, actor)
        event.refresh_from_db()
        # Refunded, or being refunded (a late deposit's may wait for the buyer's bank
        # account: AWAITING_ACCOUNT has its own gauge and alert).
        refunded = Refund.objects.filter(event=event, actor="system").exclude(
            status=RefundStatus.FAILED
        )
        if event.status in PAID or (event.status == S.FAILURE and refunded.exists()):
            finding.status, finding.our_amount = DiscrepancyStatus.FIXED, finding.pg_amount
        finding.detail = f"PG approved, we had it {before}: {said}; now {event.status}"
        if refunded.exists() and event.status == S.FAILURE:
            finding.detail += " (refunded: its stock was already back on sale)"
        return
    # CANCEL_NOT_OURS: the re-check compares the whole payment with the PG (webhooks and
    # operators do the same) and records each cancel none of our refunds made.
    result = payment_operator_recheck(event_id=event.pk, operator=actor, note=NOTE)
    key = finding.tx.transaction_key
    refund = Refund.objects.filter(event=event, pg_transaction_key=key).first()
    finding.refund = refund
    if refund is not None and refund.status == RefundStatus.SUCCEEDED:
        finding.status, finding.our_amount = DiscrepancyStatus.FIXED, finding.pg_amount
        finding.detail = f"cancelled at the PG: recorded as refund {refund.pk} (actor pg)"
    elif refund is not None:
        finding.our_amount = finding.pg_amount
        finding.detail = (
            f"a partial cancel at the PG: refund {refund.pk} is {refund.status} until an "
            "operator says which lines it was for"
        )
    else:
        finding.detail = f"a cancel none of our refunds made; not recorded: {result.message}"


def _fix_approval(event: PaymentEvent, actor: str) -> str:
    if event.status == S.NOT_STARTED or not event.payment_key:
        # The approval never reached us, so we may not even have the PG's key for it.
        answer = pg_lookup(event)
        if not isinstance(answer.record, PgRecord):
            record_note(event.pk, reason=NOTE, actor=actor, pg_code=answer.said[:64])
            return f"the PG could not be asked ({answer.said})"
        _adopt_key(event, answer.record)
        if event.status == S.NOT_STARTED:
            decision = judge(event, answer.record)
            if decision.action != Action.SUCCESS:
                record_note(event.pk, reason=NOTE, actor=actor, pg_code=answer.said[:64])
                return f"the PG now says {answer.said}"
            payment_record_outcome(
                event=event, decision=decision, actor=actor, froms={S.NOT_STARTED}
            )
            return "recorded SUCCESS"
    return payment_operator_recheck(event_id=event.pk, operator=actor, note=NOTE).message


def _adopt_key(event: PaymentEvent, record: PgRecord) -> None:
    """Keep the PG's key of a payment we never confirmed: refunds and lookups need it.
    Only where none is set, so a confirm that set one meanwhile keeps its own."""
    if record.order_id == event.order_id and record.payment_key:
        PaymentEvent.objects.filter(pk=event.pk, payment_key__isnull=True).update(
            payment_key=record.payment_key
        )
        event.refresh_from_db()


def given_back(event: PaymentEvent) -> bool:
    """Whether the PG's record shows a payment approved and then wholly cancelled."""
    record = pg_lookup(event).record
    return (
        isinstance(record, PgRecord)
        and record.status == PgStatus.CANCELED
        and record.balance_amount == 0
    )


def look_again(
    kind: str, *, event: PaymentEvent, day: date, refund: Refund | None = None
) -> Finding | None:
    """One of ours the PG's records of `day` did not show, looked up at the PG: None when
    the PG has it on another day (a record dated across midnight), else the Finding."""
    answer = pg_lookup(event)
    record = answer.record if isinstance(answer.record, PgRecord) else None
    if kind == K.MISSING_AT_PG:
        ours = event.total_amount
        base = {"order_id": event.order_id, "event": event, "pg_amount": 0, "our_amount": ours}
        if record is None:
            return Finding(kind, detail=f"SUCCESS here; the PG says {answer.said}", **base)
        if record.status not in APPROVED:
            return Finding(kind, detail=f"SUCCESS here; the PG says {record.raw_status}", **base)
        if record.approved_at and record.approved_at.astimezone(KST).date() != day:
            return None
        return Finding(
            kind, detail="the PG has it approved, but not in its records of the day", **base
        )
    keys = {refund.pg_transaction_key, refund.pg_idempotency_key} - {""}
    if record is not None and any(
        c.transaction_key in keys or any(k in c.note for k in keys) for c in record.cancels
    ):
        return None  # the PG has the cancel: dated on another day of its records
    said = answer.said if record is None else f"{len(record.cancels)} cancel(s), none ours"
    return Finding(
        kind,
        event.order_id,
        event=event,
        refund=refund,
        pg_amount=0,
        our_amount=-refund.pg_amount,
        detail=f"refund {refund.pk} SUCCEEDED here; the PG says {said}",
    )

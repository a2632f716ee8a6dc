"""What a PG's answer means for one of our payments (DESIGN section 4, step 5).

The PG and our record must agree on orderId, paymentKey and totalAmount before an
approval counts. Confirm and recovery both judge through here.
"""

from dataclasses import dataclass
from enum import StrEnum

from gateways.types import GatewayPayment, PgStatus
from payments.models import PaymentEvent


class Verdict(StrEnum):
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    PENDING = "PENDING"  # authenticated, not approved: confirmable while its window lasts
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # approved, but not for our amount: cancel it
    NEEDS_ATTENTION = "NEEDS_ATTENTION"  # the PG's record contradicts ours: a person decides


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    pg_code: str = ""
    pg_message: str = ""


def payment_judge(*, event: PaymentEvent, pg: GatewayPayment, payment_key: str | None) -> Judgement:
    if pg.order_id != event.order_id or (payment_key and pg.payment_key != payment_key):
        return Judgement(Verdict.NEEDS_ATTENTION, "PG_IDENTITY_MISMATCH", pg.raw_status)
    if pg.status == PgStatus.APPROVED:
        if pg.total_amount != event.total_amount:
            return Judgement(
                Verdict.AMOUNT_MISMATCH,
                "PG_AMOUNT_MISMATCH",
                pg.raw_status,
                f"PG approved {pg.total_amount}, the order is {event.total_amount}",
            )
        return Judgement(Verdict.SUCCESS, "PG_APPROVED", pg.raw_status)
    if pg.status in (PgStatus.FAILED, PgStatus.EXPIRED):
        return Judgement(
            Verdict.FAILURE,
            f"PG_{pg.status}",
            pg.failure_code or pg.raw_status,
            pg.failure_message or "",
        )
    if pg.status == PgStatus.CANCELED:
        # Approved and fully refunded at the PG (e.g. from its dashboard): no money taken.
        return Judgement(Verdict.FAILURE, "PG_CANCELED", pg.raw_status)
    if pg.status == PgStatus.PARTIALLY_CANCELED:
        return Judgement(Verdict.NEEDS_ATTENTION, "PG_PARTIALLY_CANCELED", pg.raw_status)
    return Judgement(Verdict.PENDING, "PG_PENDING", pg.raw_status)

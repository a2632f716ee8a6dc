"""What a PG's answer means for a refund: pure functions, no database, no PG calls.

Like payments.services.decisions for a payment: the flows ask the PG, these read the
answer, and payments.services.refund_settle records the outcome.
"""

from dataclasses import dataclass

from payments.models import RefundStatus as R
from payments.services.pg import PgAnswer, PgError


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # SUCCEEDED, FAILED, UNKNOWN, NEEDS_ATTENTION or AWAITING_ACCOUNT
    reason: str  # the history row's reason code
    pg_code: str = ""
    pg_message: str = ""
    transaction_key: str = ""  # SUCCEEDED: the PG's key for this cancel


def decide_refund_answer(answer: PgAnswer) -> RefundOutcome:
    """The PG's answer to our cancel.

    the cancel answered                         | then
    --------------------------------------------+--------------------------------------
    the payment, cancelled                      | SUCCEEDED (PG_CANCELED)
    a refusal, at the first attempt             | FAILED (PG_REFUSED): nothing happened
    a refusal after an attempt we did not see   | UNKNOWN (PG_REFUSED_AFTER_RETRY): the
      (NicePay refuses a cancel orderId used,   |   first attempt may have cancelled;
      KakaoPay a balance that changed)          |   recovery looks for it at the PG
    "already cancelled"                         | UNKNOWN (PG_ALREADY_CANCELED): ours, or
                                                |   someone else's? recovery looks
    no such payment                             | FAILED (PG_NO_RECORD)
    no answer                                   | UNKNOWN (PG_NO_ANSWER)
    """
    if answer.record is not None:
        key = answer.record.last_transaction_key or ""
        return RefundOutcome(R.SUCCEEDED, "PG_CANCELED", transaction_key=key)
    if answer.error == PgError.DECLINED and not answer.after_retry:
        return RefundOutcome(R.FAILED, "PG_REFUSED", answer.code, answer.message)
    if answer.error == PgError.DECLINED:
        return RefundOutcome(R.UNKNOWN, "PG_REFUSED_AFTER_RETRY", answer.code, answer.message)
    if answer.error == PgError.ALREADY_DONE:
        return RefundOutcome(R.UNKNOWN, "PG_ALREADY_CANCELED", answer.code, answer.message)
    if answer.error == PgError.NOT_FOUND:
        return RefundOutcome(R.FAILED, "PG_NO_RECORD", answer.code, answer.message)
    return RefundOutcome(R.UNKNOWN, "PG_NO_ANSWER", answer.code, answer.message)

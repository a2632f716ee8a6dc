"""Sending a refund: the PG call and its outcome, never twice.

    refund = refund_execute(refund_id=refund.pk, actor="buyer")

A REQUESTED refund (payments.services.refund_request) is claimed (REQUESTED -> EXECUTING,
a conditional UPDATE: one sender), then, with no transaction open, the PG's share is
cancelled at the PG with the refund's own key, and the outcome recorded
(payments.services.refund_settle).

A refund of a paid virtual account goes to the buyer's bank account. The system's refund
of a deposit that came after we failed the payment has none (nobody asked the buyer): it
is created AWAITING_ACCOUNT, not REQUESTED, so nothing sends it until the buyer or an
operator gives one (payments.services.refund_account); refused, it goes back there.
"""

from payments.models import Refund
from payments.models import RefundStatus as R
from payments.refund_states import refund_transition
from payments.selectors import paid_by_virtual_account
from payments.services.pg import RefundAccount, pg_cancel, pg_lookup
from payments.services.refund_decisions import RefundOutcome, decide_refund_answer
from payments.services.refund_settle import refund_record_outcome

# Gateways whose cancel checks the balance it expects (and so needs it looked up first).
CHECKS_BALANCE = frozenset({"kakaopay"})


def refund_execute(*, refund_id: int, actor: str) -> Refund:
    """Send a REQUESTED refund's cancel to the PG and record how it went. A refund
    someone else already claimed is returned as it is."""
    if refund_transition(
        refund_id, to=R.EXECUTING, froms={R.REQUESTED}, reason="REFUND_SENT", actor=actor
    ):
        refund = Refund.objects.select_related("event").get(pk=refund_id)
        outcome = _cancel_at_pg(refund)
        if outcome.status == R.FAILED and refund.actor == "system":
            # The system refunds what it must not keep: a refusal is for a person to solve,
            # the buyer for a virtual account's (whose bank account it may be), else an
            # operator.
            to = R.AWAITING_ACCOUNT if refund_asks_buyer(refund) else R.NEEDS_ATTENTION
            outcome = RefundOutcome(
                to, "SYSTEM_REFUND_REFUSED", outcome.pg_code, outcome.pg_message
            )
        refund_record_outcome(
            refund_id=refund_id, outcome=outcome, actor=actor, froms={R.EXECUTING}
        )
    return Refund.objects.select_related("event").get(pk=refund_id)


def refund_asks_buyer(refund: Refund) -> bool:
    """Whether a refusal of this refund asks the buyer for a (new) bank account: the
    system's refund of a paid virtual account. A buyer's or an operator's refund brought
    its account with it: refused, it is FAILED and they ask again with another."""
    return refund.actor == "system" and paid_by_virtual_account(refund.event)


def refund_account_of(refund: Refund) -> RefundAccount | None:
    """The buyer's bank account a virtual account's refund goes to, as the PG wants it."""
    if not refund.refund_account_number:
        return None
    return RefundAccount(
        bank_code=refund.refund_bank_code,
        account_number=refund.refund_account_number,
        holder_name=refund.refund_account_holder,
    )


def _cancel_at_pg(refund: Refund) -> RefundOutcome:
    event = refund.event
    if refund.pg_amount == 0:
        return RefundOutcome(R.SUCCEEDED, "POINTS_ONLY")
    expected = None
    if event.gateway in CHECKS_BALANCE:
        looked = pg_lookup(event)
        if looked.record is None:
            # Nothing was sent: recovery finds no cancel of ours at the PG and sends it.
            return RefundOutcome(R.UNKNOWN, "PG_LOOKUP_FAILED", pg_code=looked.code)
        expected = looked.record.balance_amount
        Refund.objects.filter(pk=refund.pk).update(pg_balance_before=expected)
    answer = pg_cancel(
        event,
        payment_key=event.payment_key,
        amount=refund.pg_amount,
        reason=refund.reason,
        idempotency_key=refund.pg_request_key,
        expected_balance=expected,
        refund_account=refund_account_of(refund),
    )
    return decide_refund_answer(answer)

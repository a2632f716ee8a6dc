"""A buyer's cancel of an order (POST /payments/{orderId}/cancel, the shop's fail page).

- A paid order (SUCCESS, PARTIAL_CANCELED): a refund (payments.services.refund), of the
  units in `items`, of `amount` (money only), or of everything left.
- A virtual account not paid in yet (AWAITING_DEPOSIT): closed at the PG, in full, then
  FAILURE with its stock and points back (deposits.py records it).
- A failed order whose deposit came late (FAILURE, its system refund waiting for the
  buyer's bank account: payments.services.refund_account): that refund, sent to the
  `refund_account` given; a repeat answers it as it stands.
- An unpaid order (NOT_STARTED: the buyer closed the PG's window): FAILURE, with its
  stock and points back at once. The confirm's claim (NOT_STARTED -> EXECUTING) and this
  FAILURE are both conditional UPDATEs from NOT_STARTED, so a late confirm and the cancel
  cannot both win: whichever comes second is refused.

With an Idempotency-Key, a repeat answers the first request's refund as it stands now
(and sends a refund a dead process left REQUESTED).
"""

from config.errors import DomainError
from payments.models import PaymentEvent, Refund
from payments.models import PaymentStatus as S
from payments.models import RefundStatus as R
from payments.services.decisions import Action, Decision
from payments.services.deposits import payment_deposit_check
from payments.services.idempotency import IdempotencyKey, idempotent_create
from payments.services.pg import pg_cancel, pg_lookup
from payments.services.refund import refund_execute
from payments.services.refund_account import refund_give_account, refund_waiting_for_account
from payments.services.refund_request import refund_request
from payments.services.settle import payment_record_outcome

BUYER = "buyer"


def payment_cancel(
    *,
    buyer,
    order_id: str,
    reason: str,
    items: list[tuple[int, int]] | None = None,
    amount: int | None = None,
    idempotency: IdempotencyKey | None = None,
    refund_account: dict | None = None,
) -> tuple[dict, bool]:
    """(the answer, whether the refund's outcome is still unknown)."""
    event = _buyers(buyer, order_id)
    if event.status == S.NOT_STARTED:
        return _cancel_unpaid(event), False
    if event.status == S.AWAITING_DEPOSIT:
        return _cancel_awaiting_deposit(event, partial=bool(items or amount)), False
    if event.status == S.FAILURE and event.refunds.exists():
        return _answer(_refund_of_failed(event, refund_account))

    def create(save) -> dict:
        refund = refund_request(
            event=event,
            actor=BUYER,
            reason=reason,
            items=items,
            amount=amount,
            save=lambda refund: save({"refundId": refund.pk}),
            refund_account=refund_account,
        )
        return {"refundId": refund.pk}

    stored, _ = idempotent_create(member=buyer, key=idempotency, create=create, status=200)
    return _answer(refund_execute(refund_id=stored["refundId"], actor=BUYER))


def payment_refund_to_account(*, buyer, order_id: str, refund_account: dict | None):
    """Only the bank account a late deposit's refund waits for (the shop's order page, so
    that its form can never refund anything else); as payment_cancel answers."""
    event = _buyers(buyer, order_id)
    if event.status != S.FAILURE or not event.refunds.exists():
        raise DomainError("INVALID_STATE", "환불을 기다리는 주문이 아닙니다.", status=event.status)
    return _answer(_refund_of_failed(event, refund_account))


def _answer(refund: Refund) -> tuple[dict, bool]:
    return refund_answer(refund), refund.status not in (R.SUCCEEDED, R.FAILED)


def refund_answer(refund: Refund) -> dict:
    """What the API answers about a refund: the payment after it, and the refund."""
    if refund.status == R.FAILED:
        raise DomainError(
            "REFUND_REJECTED",
            f"The PG refused the refund: {refund.failure_message or refund.failure_code}",
            pgCode=refund.failure_code,
            pgMessage=refund.failure_message,
        )
    event = PaymentEvent.objects.get(pk=refund.event_id)
    return {
        "orderId": event.order_id,
        "status": event.status,
        "canceledAmount": event.canceled_amount,
        "balanceAmount": event.total_amount - event.canceled_amount,
        "pointsRefunded": event.points_refunded,
        "refund": {
            "id": refund.pk,
            "amount": refund.amount,
            "pgAmount": refund.pg_amount,
            "pointsAmount": refund.points_amount,
            "status": refund.status,
        },
    }


def _refund_of_failed(event: PaymentEvent, refund_account: dict | None) -> Refund:
    """A failed payment is refunded by the system alone (refund_request_false_failure):
    the buyer gives the account its refund waits for, or sees where it stands."""
    waiting = refund_waiting_for_account(event)
    if waiting is None:
        return Refund.objects.select_related("event").filter(event=event).latest("id")
    refund = refund_give_account(refund_id=waiting.pk, refund_account=refund_account, actor=BUYER)
    if refund.status == R.AWAITING_ACCOUNT:  # the PG refused it (the account?): asked again
        said = refund.history.order_by("-id").first()
        raise DomainError(
            "REFUND_REJECTED",
            f"The PG refused the refund: {said.pg_message or said.pg_code}",
            pgCode=said.pg_code,
            pgMessage=said.pg_message,
        )
    return refund


def payment_cancel_unpaid(*, buyer, order_id: str) -> dict:
    """Only the cancel of an unpaid order (the shop's fail page: a GET must never refund);
    INVALID_STATE for an order that is paid or being paid."""
    event = _buyers(buyer, order_id)
    if event.status not in (S.NOT_STARTED, S.FAILURE):
        raise DomainError("INVALID_STATE", f"The order is {event.status}.", status=event.status)
    return _cancel_unpaid(event)


def _buyers(buyer, order_id: str) -> PaymentEvent:
    event = PaymentEvent.objects.filter(buyer=buyer, order_id=order_id).first()
    if event is None:
        raise DomainError("NOT_FOUND", "No such order.")
    return event


def _cancel_unpaid(event: PaymentEvent) -> dict:
    decision = Decision(Action.FAILURE, "BUYER_CANCELED")
    recorded = payment_record_outcome(
        event=event, decision=decision, actor=BUYER, froms={S.NOT_STARTED}
    )
    # Not recorded: someone moved it first. Already failed (expired, cancelled twice) is
    # the same answer; anything else means a confirm claimed it: it is being paid.
    if not recorded and event.status != S.FAILURE:
        raise DomainError(
            "INVALID_STATE",
            f"The order is {event.status}: it is being paid and cannot be cancelled now.",
            status=event.status,
        )
    return {"orderId": event.order_id, "status": event.status}


def _cancel_awaiting_deposit(event: PaymentEvent, *, partial: bool) -> dict:
    """A virtual account not paid in yet: its account is closed at the PG (whole: the PG
    refuses a part of it), then the order fails with its stock and points back."""
    if partial:
        raise DomainError(
            "INVALID_STATE",
            "입금 전인 가상계좌 주문은 전체만 취소할 수 있습니다.",
            status=event.status,
        )
    answer = pg_cancel(
        event,
        payment_key=event.payment_key,
        amount=None,
        reason="입금 전 구매자 취소",
        idempotency_key=f"{event.pg_idempotency_key}-before-deposit",
    )
    if answer.record is None:
        # Not closed: the PG is down, or the deposit just came (the PG then refuses a
        # cancel without a refund account). A look says which, and records a deposit.
        looked = pg_lookup(event)
        if looked.record is not None:
            payment_deposit_check(event=event, record=looked.record, actor=BUYER)
            event.refresh_from_db()
        if event.status != S.AWAITING_DEPOSIT:
            raise DomainError(
                "INVALID_STATE",
                f"입금이 확인되어 주문이 {event.status} 상태입니다. "
                "환불받을 계좌(refundReceiveAccount)와 함께 다시 취소하세요.",
                status=event.status,
            )
        raise DomainError(
            "GATEWAY_UNAVAILABLE",
            "결제사에서 가상계좌를 닫지 못했습니다. 잠시 후 다시 시도하세요.",
            pgCode=answer.code,
        )
    decision = payment_deposit_check(event=event, record=answer.record, actor=BUYER)
    event.refresh_from_db()
    return {"orderId": event.order_id, "status": event.status, "reason": decision.reason}

"""Asking for a refund: plan it, reserve it, create it REQUESTED (no PG call here).

    refund = refund_request(event=e, actor="buyer", items=[(product_id, 2)], reason="...")

The plan says which lines give back how much money and how many units; one short
transaction then reserves it against the payment and its lines with conditional UPDATEs
and creates the Refund REQUESTED: two concurrent refunds can never take more than was
paid, however they interleave. payments.services.refund sends it.

What is given back: the refund's value comes off what the PG charged first; points the
order used are given back once the PG's share is all refunded (docs/refunds.md).
"""

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from config.errors import DomainError
from ledger.services import points_spend
from payments.models import PaymentEvent, PaymentOrder, Purpose, Refund, RefundLine
from payments.models import PaymentStatus as S
from payments.models import RefundStatus as R
from payments.refund_states import refund_history
from payments.selectors import paid_by_virtual_account
from payments.services.pg import pg_refund_account

REFUNDABLE = frozenset({S.SUCCESS, S.PARTIAL_CANCELED})


@dataclass(frozen=True)
class Share:
    """What a refund takes of one line: money, and units back to stock."""

    line_id: int
    amount: int
    quantity: int


def refund_request(
    *,
    event: PaymentEvent,
    actor: str,
    reason: str,
    items: list[tuple[int, int]] | None = None,
    amount: int | None = None,
    key: str | None = None,
    save=None,
    made_at_pg: str = "",
    refund_account: dict | None = None,
) -> Refund:
    """Reserve and create the refund (REQUESTED). `items` gives back those units (and
    restocks them), `amount` money only, neither everything that is left. `save(refund)`
    runs in the same transaction (the Idempotency-Key's answer). `key` is the refund's
    PG idempotency key: a new one unless the caller's names the refund. `made_at_pg` is
    the transaction key of a cancel the PG already made (in its dashboard): the refund is
    then created EXECUTING with it, in the same transaction, so nothing ever sends it.
    `refund_account` ({bank, accountNumber, holderName}) is where a paid virtual
    account's money goes back: required for one (REFUND_ACCOUNT_REQUIRED), checked."""
    if event.status not in REFUNDABLE:
        raise DomainError(
            "INVALID_STATE", f"A {event.status} payment cannot be refunded.", status=event.status
        )
    account = _refund_account(event, refund_account, made_at_pg)
    lines = list(PaymentOrder.objects.filter(event=event).order_by("id"))
    shares, restock = _plan(event, lines, items, amount)
    value = sum(share.amount for share in shares)
    pg_left = event.total_amount - event.canceled_amount - event.refund_reserved
    pg_amount = min(value, pg_left)
    with transaction.atomic(durable=True):
        _reserve(event, shares, pg_amount, value - pg_amount)
        refund = Refund.objects.create(
            event=event,
            pg_amount=pg_amount,
            points_amount=value - pg_amount,
            restock=restock,
            reason=reason[:200],
            actor=actor,
            pg_idempotency_key=key or f"rf-{uuid.uuid4().hex}",
            status=R.EXECUTING if made_at_pg else R.REQUESTED,
            pg_transaction_key=made_at_pg[:64],
            refund_bank_code=account.bank_code if account else "",
            refund_account_number=account.account_number if account else "",
            refund_account_holder=account.holder_name if account else "",
        )
        RefundLine.objects.bulk_create(
            RefundLine(refund=refund, line_id=s.line_id, amount=s.amount, quantity=s.quantity)
            for s in shares
        )
        if made_at_pg:
            refund_history(refund.pk, event.pk, "", R.EXECUTING, "PG_CANCELED_ELSEWHERE", actor)
        else:
            refund_history(refund.pk, event.pk, "", R.REQUESTED, "REFUND_REQUESTED", actor)
        if event.purpose == Purpose.POINT_CHARGE:
            # The top-up's points come back out of the member's balance: held now, so
            # they cannot be spent while the PG is asked (409 if already spent).
            points_spend(
                member_id=event.buyer_id,
                points=pg_amount,
                order_id=refund.reference,
                kind="REFUND_POINTS_HELD",
            )
        if save is not None:
            save(refund)
    return refund


def _refund_account(event: PaymentEvent, given: dict | None, made_at_pg: str):
    """The checked refund account for a paid virtual account; None for other payments
    (an account sent for a card payment is not needed and not kept)."""
    if made_at_pg or not paid_by_virtual_account(event):
        return None
    if not given:
        raise DomainError(
            "REFUND_ACCOUNT_REQUIRED",
            "가상계좌로 결제한 주문은 환불받을 계좌가 필요합니다 (refundReceiveAccount).",
            fields={"refundReceiveAccount": ["required for a virtual account's refund"]},
        )
    return pg_refund_account(given["bank"], given["accountNumber"], given["holderName"])


def refund_request_false_failure(*, event_id: int) -> Refund | None:
    """A refund of everything the PG holds for a payment we recorded FAILURE and whose
    stock is back on sale, which the PG turns out to have approved: we never keep money
    for goods we did not sell. Created REQUESTED (actor system); sent at once by a task,
    or by refund recovery if that task is lost. A virtual account's is created
    AWAITING_ACCOUNT instead: it goes to the bank account the buyer has yet to name
    (payments.services.refund_account). One per payment (its key says so): a second
    discovery finds the first and adds nothing. None if the PG holds nothing of it."""
    event = PaymentEvent.objects.get(pk=event_id)
    amount = event.total_amount - event.canceled_amount - event.refund_reserved
    if event.status != S.FAILURE or not event.payment_key or amount <= 0:
        return None
    key = f"ff-{event.pg_idempotency_key}"[:64]
    try:
        with transaction.atomic(durable=True):
            if not PaymentEvent.objects.filter(
                pk=event.pk, status=S.FAILURE, refund_reserved=event.refund_reserved
            ).update(refund_reserved=F("refund_reserved") + amount):
                return None
            status = R.AWAITING_ACCOUNT if paid_by_virtual_account(event) else R.REQUESTED
            refund = Refund.objects.create(
                event=event,
                pg_amount=amount,
                reason="실패 처리한 결제를 결제사가 승인: 자동 환불",
                actor="system",
                pg_idempotency_key=key,
                status=status,
            )
            refund_history(refund.pk, event.pk, "", status, "FALSE_FAILURE", "system")
    except IntegrityError:  # found before: that refund is the one
        return Refund.objects.filter(pg_idempotency_key=key).first()
    return refund


def _plan(
    event: PaymentEvent,
    lines: list[PaymentOrder],
    items: list[tuple[int, int]] | None,
    amount: int | None,
) -> tuple[list[Share], bool]:
    """The shares of each line, and whether stock goes back."""
    if items:
        if event.purpose != Purpose.GOODS:
            raise DomainError("INVALID_REQUEST", "A top-up is refunded by amount, not by items.")
        return _shares_of_items(lines, items), True
    money_left = sum(line.amount - line.refund_claimed_amount for line in lines)
    if amount is None:
        shares = [
            Share(line.pk, line.amount - line.refund_claimed_amount, _units_left(line))
            for line in lines
            if line.amount > line.refund_claimed_amount or _units_left(line)
        ]
        if not any(share.amount for share in shares):
            raise DomainError("INVALID_STATE", "Nothing is left to refund.")
        return shares, event.purpose == Purpose.GOODS
    if amount > money_left:
        raise DomainError(
            "REFUND_EXCEEDS_BALANCE",
            f"{amount} is more than the {money_left} left to refund.",
            balanceAmount=money_left,
        )
    return _shares_of_money(lines, amount, money_left), False


def _shares_of_items(lines: list[PaymentOrder], items: list[tuple[int, int]]) -> list[Share]:
    wanted: dict[int, int] = {}
    for product_id, quantity in items:
        wanted[product_id] = wanted.get(product_id, 0) + quantity
    by_product = {line.product_id: line for line in lines}
    shares = []
    for product_id, quantity in sorted(wanted.items()):
        line = by_product.get(product_id)
        if line is None:
            message = f"Product {product_id} is not in this order."
            raise DomainError("INVALID_REQUEST", message, productId=product_id)
        left = _units_left(line)
        if quantity > left:
            raise DomainError(
                "REFUND_EXCEEDS_BALANCE",
                f"Only {left} of product {product_id} can still be refunded.",
                productId=product_id,
                quantityLeft=left,
            )
        # The line's last units take what is left of its money (a refund of money only
        # may have taken some of it before).
        money = line.amount - line.refund_claimed_amount
        part = money if quantity == left else min(money, line.amount // line.quantity * quantity)
        shares.append(Share(line.pk, part, quantity))
    if not any(share.amount for share in shares):
        raise DomainError("INVALID_STATE", "The money of these units was refunded already.")
    return [share for share in shares if share.amount or share.quantity]


def _shares_of_money(lines: list[PaymentOrder], amount: int, money_left: int) -> list[Share]:
    """`amount` shared among the lines in proportion to the money each has left, the
    remainders (whole won) to the largest fractions, ties to the first line."""
    left = {line.pk: line.amount - line.refund_claimed_amount for line in lines}
    # Whole won, in integers (a float would round a share of a large order wrongly).
    parts = {pk: amount * money // money_left for pk, money in left.items()}
    fractions = {pk: amount * money % money_left for pk, money in left.items()}
    short = amount - sum(parts.values())
    for pk in sorted(left, key=lambda pk: (-fractions[pk], pk))[:short]:
        parts[pk] += 1
    return [Share(pk, part, 0) for pk, part in parts.items() if part]


def _units_left(line: PaymentOrder) -> int:
    if line.product_id is None:
        return 0
    return line.quantity - line.canceled_quantity - line.refund_reserved_quantity


def _reserve(event: PaymentEvent, shares: list[Share], pg_amount: int, points: int) -> None:
    """Conditional UPDATEs that refuse to go past what was paid (the caller's transaction
    rolls back on a refusal, and the refund is answered REFUND_EXCEEDS_BALANCE)."""
    reserved = PaymentEvent.objects.filter(
        Q(pk=event.pk, status__in=REFUNDABLE),
        Q(canceled_amount__lte=F("total_amount") - F("refund_reserved") - pg_amount),
        Q(points_refunded__lte=F("points_used") - F("points_refund_reserved") - points),
    ).update(
        refund_reserved=F("refund_reserved") + pg_amount,
        points_refund_reserved=F("points_refund_reserved") + points,
    )
    if not reserved:
        _exceeds()
    for share in sorted(shares, key=lambda s: s.line_id):
        if not PaymentOrder.objects.filter(
            pk=share.line_id,
            refund_claimed_amount__lte=F("amount") - share.amount,
            canceled_quantity__lte=F("quantity") - F("refund_reserved_quantity") - share.quantity,
        ).update(
            refund_claimed_amount=F("refund_claimed_amount") + share.amount,
            refund_reserved_quantity=F("refund_reserved_quantity") + share.quantity,
        ):
            _exceeds()


def _exceeds():
    raise DomainError(
        "REFUND_EXCEEDS_BALANCE", "Another refund took part of this order first; nothing is left."
    )

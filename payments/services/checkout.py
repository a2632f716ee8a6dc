"""Checkout: the server prices the order and reserves stock in one short transaction.

The same transaction checks what the member may hold (payments.services.holding) and
takes the points the buyer spends (`points_to_use`: a conditional UPDATE on the balance,
exactly like stock; the PG is charged the rest). An order the points pay in full is
recorded SUCCESS at once, with no PG call. Then,
with no transaction open, the PG's step before its window, if it has one (KakaoPay
ready), which gives the payment its PG key. An Idempotency-Key makes a double click
return the first answer (payments.services.idempotency).
"""

import math
import secrets
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from ledger.services import points_spend
from payments.models import Method, PaymentEvent, PaymentOrder, Purpose
from payments.models import PaymentStatus as S
from payments.services.decisions import Action, Decision
from payments.services.holding import checkout_holding_check, checkout_rate_check
from payments.services.idempotency import (
    IdempotencyKey,
    idempotency_forget,
    idempotency_update,
    idempotent_create,
)
from payments.services.pg import (
    PgError,
    pg_client_config,
    pg_issues_virtual_accounts,
    pg_prepare,
    pg_prepare_lease,
    pg_require,
)
from payments.services.pricing import Priced, price_goods, price_points
from payments.services.settle import payment_record_outcome
from payments.states import record_creation
from products.services import stock_reserve

# What the caller turns a new payment into (its answer): the payment, and the public
# values the shop's frontend needs to open that PG's window.
Render = Callable[[PaymentEvent, dict], dict]
PREPARING = "prepare"  # the lease owner while a checkout waits for the PG's prepare step


def new_order_id() -> str:
    """Unguessable, and within every PG's rule (6 to 64 of A-Za-z0-9 - _)."""
    return "ord-" + secrets.token_urlsafe(18)


def payment_checkout(
    *,
    buyer,
    gateway: str,
    purpose: str,
    lines: list[tuple[int, int]],
    amount: int | None,
    render: Render,
    idempotency: IdempotencyKey | None = None,
    actor: str = "api",
    points_to_use: int = 0,
    method: str = Method.CARD,
) -> tuple[dict, bool]:
    """Create a NOT_STARTED payment for (product id, quantity) lines, or a point top-up of
    `amount`; return (the answer, replayed?). Goods may spend `points_to_use` points:
    DomainError INSUFFICIENT_POINTS if the member has fewer. `method` VIRTUAL_ACCOUNT
    only where the PG issues virtual accounts (UNSUPPORTED_METHOD)."""
    created: list[tuple[PaymentEvent, int]] = []

    def create(save: Callable[[dict], None]) -> dict:
        pg_require(gateway)
        if method == Method.VIRTUAL_ACCOUNT and not pg_issues_virtual_accounts(gateway):
            raise DomainError(
                "UNSUPPORTED_METHOD",
                f"{gateway} does not issue virtual accounts here.",
                fields={"method": ["VIRTUAL_ACCOUNT is offered for toss only"]},
            )
        checkout_rate_check(buyer=buyer)
        if purpose == Purpose.POINT_CHARGE:
            priced = price_points(amount=amount)
        else:
            priced = price_goods(quantities=lines)
        _check_points(points_to_use, priced)
        with transaction.atomic(durable=True):
            checkout_holding_check(buyer=buyer, quantities=priced.stock())
            stock_reserve(quantities=priced.stock())
            event = _create_payment(buyer, gateway, purpose, priced, actor, points_to_use, method)
            if points_to_use:
                points_spend(member_id=buyer.pk, points=points_to_use, order_id=event.order_id)
            answer = render(event, pg_client_config(gateway))
            save(answer)
        created.append((event, priced.quantity()))
        return answer

    answer, replayed = idempotent_create(
        member=buyer,
        key=idempotency,
        create=create,
        on_replay=lambda stored: _unfinished_preparation(stored, buyer, idempotency, actor),
    )
    if replayed:
        return answer, True
    event, quantity = created[0]
    if event.total_amount == 0:
        return _paid_with_points(event, answer, buyer, idempotency, actor), False
    return _prepare_at_pg(event, answer, quantity, buyer, idempotency, actor), False


def _check_points(points: int, priced: Priced) -> None:
    if not points:
        return
    if not priced.lines[0].product_id:
        raise DomainError(
            "INVALID_REQUEST",
            "Points pay for goods, not for a point charge.",
            fields={"pointsToUse": ["not allowed for POINT_CHARGE"]},
        )
    if points > priced.total:
        raise DomainError(
            "INVALID_REQUEST",
            f"pointsToUse may not exceed the order's total of {priced.total} KRW.",
            fields={"pointsToUse": [f"at most {priced.total}"]},
        )


def _create_payment(
    buyer, gateway: str, purpose: str, priced: Priced, actor: str, points: int, method: str
):
    # A PG with a prepare step: this request holds the payment until that step is done
    # or its timeouts have run out, so a replay meanwhile does not start a second one.
    # An order paid in full with points never reaches the PG.
    lease = pg_prepare_lease(gateway) if priced.total > points else None
    event = PaymentEvent.objects.create(
        lease_owner=PREPARING if lease else "",
        lease_until=timezone.now() + lease if lease else None,
        order_id=new_order_id(),
        buyer=buyer,
        gateway=gateway,
        order_name=priced.order_name,
        total_amount=priced.total - points,
        points_used=points,
        purpose=purpose,
        method=method,
        pg_idempotency_key=uuid.uuid4().hex,
    )
    PaymentOrder.objects.bulk_create(
        PaymentOrder(
            event=event,
            product_id=line.product_id,
            seller_id=line.seller_id,
            quantity=line.quantity,
            amount=line.amount,
            commission=line.commission,
        )
        for line in priced.lines
    )
    record_creation(event, actor=actor)
    return event


def _prepare_at_pg(
    event: PaymentEvent, answer: dict, quantity: int, buyer, idempotency, actor: str
) -> dict:
    """The PG's own step before its window, with no transaction open.

    It gets the PG's key for the payment, stored on it. If the step fails, the payment
    fails at once and gives its stock back: nothing can be paid for without that key.
    """
    back = urlencode(
        {"orderId": event.order_id, "amount": event.total_amount, "gateway": event.gateway}
    )
    prepared = pg_prepare(
        event,
        quantity=quantity,
        approval_url=f"{settings.SHOP_SUCCESS_URL}?{back}",
        cancel_url=f"{settings.SHOP_FAIL_URL}?{back}",
        fail_url=f"{settings.SHOP_FAIL_URL}?{back}",
    )
    if prepared.error is not None:
        failed = Decision(Action.FAILURE, "PG_PREPARE_FAILED", prepared.code, prepared.message)
        payment_record_outcome(event=event, decision=failed, actor=actor, froms={S.NOT_STARTED})
        idempotency_forget(member=buyer, key=idempotency)  # a retry should try again
        if prepared.error == PgError.DECLINED:
            raise DomainError(
                "PAYMENT_REJECTED",
                "The PG refused the payment.",
                pgCode=prepared.code,
                pgMessage=prepared.message,
            )
        raise DomainError(
            "GATEWAY_UNAVAILABLE", "The PG did not answer; nothing was charged. Try again."
        )
    if prepared.record is None:
        return answer
    answer = {**answer, "redirectUrl": prepared.record.redirect_url}
    # Both or neither: a crash in between would leave a replay with a key but no URL.
    with transaction.atomic(durable=True):
        PaymentEvent.objects.filter(pk=event.pk, payment_key__isnull=True).update(
            payment_key=prepared.record.payment_key, lease_owner="", lease_until=None
        )
        idempotency_update(member=buyer, key=idempotency, answer=answer)
    return answer


def _paid_with_points(event: PaymentEvent, answer: dict, buyer, idempotency, actor: str):
    """An order the points pay in full: SUCCESS now, through the one settle path (its
    outbox row books it). A crash before this leaves it NOT_STARTED with its points held:
    a replay of the checkout finishes it, or expiry fails it and gives them back."""
    paid = Decision(Action.SUCCESS, "PAID_WITH_POINTS")
    payment_record_outcome(event=event, decision=paid, actor=actor, froms={S.NOT_STARTED})
    answer = {**answer, "status": event.status}
    idempotency_update(member=buyer, key=idempotency, answer=answer)
    return answer


def _unfinished_preparation(answer: dict, buyer, idempotency, actor: str) -> dict:
    """A replay of a checkout whose PG step has not finished: either the first request is
    still waiting for the PG (CHECKOUT_IN_PROGRESS: a second prepare would give the buyer
    a window for another PG key), or it died between the payment's commit and the PG's
    answer, its lease has run out, and this request takes the lease and does the step.
    An order paid with points whose request died before its SUCCESS is finished here, and
    one that died after it is answered as it now stands; one whose PG step failed is
    answered as that failure."""
    event = PaymentEvent.objects.filter(order_id=answer.get("orderId"), buyer=buyer).first()
    if event is None:
        return answer
    if event.total_amount == 0 and event.status == S.NOT_STARTED:
        return _paid_with_points(event, answer, buyer, idempotency, actor)
    if event.total_amount == 0 and event.status != answer.get("status"):
        # Its request recorded the outcome and died before storing the answer that says so.
        answer = {**answer, "status": event.status}
        idempotency_update(member=buyer, key=idempotency, answer=answer)
        return answer
    lease = pg_prepare_lease(event.gateway)
    if event.status == S.FAILURE and not event.payment_key and lease is not None:
        # Its PG step failed and the request died before it forgot the key: answer as it
        # would have (the stored answer has no window), and let a retry start afresh.
        idempotency_forget(member=buyer, key=idempotency)
        raise DomainError(
            "GATEWAY_UNAVAILABLE", "The PG did not answer; nothing was charged. Try again."
        )
    if event.status != S.NOT_STARTED or event.payment_key or lease is None:
        return answer
    now = timezone.now()
    taken = (
        PaymentEvent.objects.filter(pk=event.pk, status=S.NOT_STARTED, payment_key__isnull=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=PREPARING, lease_until=now + lease)
    )
    if not taken:
        event.refresh_from_db(fields=["lease_until"])
        wait = (event.lease_until - now).total_seconds() if event.lease_until else 1
        raise DomainError(
            "CHECKOUT_IN_PROGRESS",
            "This checkout is still being prepared with the PG; try again shortly.",
            retryAfter=max(1, math.ceil(wait)),
        )
    quantity = sum(event.lines.values_list("quantity", flat=True))
    return _prepare_at_pg(event, answer, quantity, buyer, idempotency, actor)

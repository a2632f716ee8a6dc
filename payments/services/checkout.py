"""Checkout: the server prices the order and reserves stock in one short transaction."""

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from config.errors import DomainError
from gateways import errors as pg_errors
from gateways.base import get_gateway
from gateways.errors import UnsupportedGateway
from gateways.types import PrepareRequest
from payments.models import IdempotencyRecord, PaymentEvent, PaymentOrder, Purpose
from payments.models import PaymentStatus as S
from payments.services.compensation import compensation_restore_for
from payments.services.outcome import Outcome, payment_record_outcome
from payments.states import record_creation
from products.models import Product


@dataclass(frozen=True)
class CheckoutLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_hash: str


def request_fingerprint(body: dict) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def new_order_id() -> str:
    """Unguessable, and within every PG's rule (6 to 64 of A-Za-z0-9 - _)."""
    return "ord-" + secrets.token_urlsafe(18)


def payment_checkout(
    *,
    buyer,
    gateway: str,
    purpose: str,
    lines: list[CheckoutLine],
    amount: int | None,
    render: Callable[[PaymentEvent], dict],
    idempotency: IdempotencyKey | None = None,
    actor: str = "api",
) -> tuple[dict, bool]:
    """Create a NOT_STARTED payment and return (the answer, replayed?).

    With an Idempotency-Key, a repeat with the same body returns the first answer and a
    different body is refused; two concurrent repeats still make one payment (the key's
    row is unique and written in the same transaction as the payment).
    """
    if idempotency is not None:
        replay = _replay(buyer, idempotency)
        if replay is not None:
            return _unfinished_preparation(replay, buyer, idempotency), True
    try:
        pg = get_gateway(gateway)
    except UnsupportedGateway as exc:
        raise DomainError(400, "UNSUPPORTED_GATEWAY", f"Unknown gateway {gateway!r}.") from exc

    if purpose == Purpose.POINT_CHARGE:
        priced, total, order_name = _price_points(amount)
    else:
        priced, total, order_name = _price_goods(lines)

    try:
        with transaction.atomic(durable=True):
            # Conditional decrements in product-id order: no oversell, no lock held past
            # this short transaction, and no deadlock between two checkouts.
            for product, quantity, _ in sorted(priced, key=lambda p: p[0].id if p[0] else 0):
                if product is None:
                    continue
                taken = Product.objects.filter(pk=product.pk, stock__gte=quantity).update(
                    stock=F("stock") - quantity
                )
                if not taken:
                    raise DomainError(
                        409,
                        "OUT_OF_STOCK",
                        f"Not enough stock for product {product.pk}.",
                        productId=product.pk,
                    )
            event = PaymentEvent.objects.create(
                order_id=new_order_id(),
                buyer=buyer,
                gateway=gateway,
                order_name=order_name,
                total_amount=total,
                purpose=purpose,
                pg_idempotency_key=uuid.uuid4().hex,
            )
            PaymentOrder.objects.bulk_create(
                PaymentOrder(
                    event=event,
                    product=product,
                    seller_id=product.seller_id if product else None,
                    quantity=quantity,
                    amount=line_amount,
                )
                for product, quantity, line_amount in priced
            )
            record_creation(event, actor=actor)
            answer = render(event)
            if idempotency is not None:
                IdempotencyRecord.objects.create(
                    member=buyer,
                    key=idempotency.key,
                    request_hash=idempotency.request_hash,
                    response_status=201,
                    response_body=answer,
                )
    except IntegrityError:
        # A concurrent request with the same key won: ours rolled back (stock included).
        if idempotency is not None:
            replay = _replay(buyer, idempotency)
            if replay is not None:
                return replay, True
        raise
    return _prepare_at_pg(
        pg, event, answer, sum(q for _, q, _ in priced), buyer, idempotency
    ), False


def _prepare_at_pg(
    pg, event: PaymentEvent, answer: dict, quantity: int, buyer, idempotency
) -> dict:
    """The PG's own step before its window (KakaoPay ready), with no transaction open.

    It gets the PG's key for the payment, stored on it. If the step fails, the payment
    fails at once and gives its stock back: nothing can be paid for without that key.
    """
    back = urlencode(
        {"orderId": event.order_id, "amount": event.total_amount, "gateway": event.gateway}
    )
    request = PrepareRequest(
        order_id=event.order_id,
        order_name=event.order_name,
        amount=event.total_amount,
        quantity=quantity,
        buyer_ref=str(buyer.pk),
        approval_url=f"{settings.SHOP_SUCCESS_URL}?{back}",
        cancel_url=f"{settings.SHOP_FAIL_URL}?{back}",
        fail_url=f"{settings.SHOP_FAIL_URL}?{back}",
    )
    try:
        prepared = pg.prepare(request)
    except pg_errors.GatewayError as exc:
        failed = Outcome(S.FAILURE, "PG_PREPARE_FAILED", exc.code, exc.message[:255])
        if payment_record_outcome(
            event_id=event.pk, outcome=failed, actor="api", froms={S.NOT_STARTED}
        ):
            compensation_restore_for(event_id=event.pk)
        if idempotency is not None:  # a retry with the key should try again, not replay this
            IdempotencyRecord.objects.filter(member=buyer, key=idempotency.key).delete()
        if isinstance(exc, pg_errors.Rejected):
            raise DomainError(
                400,
                "PAYMENT_REJECTED",
                "The PG refused the payment.",
                pgCode=exc.code,
                pgMessage=exc.message,
            ) from exc
        raise DomainError(
            503, "GATEWAY_UNAVAILABLE", "The PG did not answer; nothing was charged. Try again."
        ) from exc
    if prepared is None:
        return answer
    answer = {**answer, "redirectUrl": prepared.redirect_url}
    # Both or neither: a crash in between would leave a replay with a key but no URL.
    with transaction.atomic(durable=True):
        PaymentEvent.objects.filter(pk=event.pk, payment_key__isnull=True).update(
            payment_key=prepared.payment_key
        )
        if idempotency is not None:
            IdempotencyRecord.objects.filter(member=buyer, key=idempotency.key).update(
                response_body=answer
            )
    return answer


def _unfinished_preparation(answer: dict, buyer, idempotency: IdempotencyKey) -> dict:
    """A replay of a checkout whose PG step never finished (the process died between the
    payment's commit and the PG's answer): do that step now, so the buyer can go on."""
    event = PaymentEvent.objects.filter(order_id=answer.get("orderId"), buyer=buyer).first()
    if event is None or event.status != S.NOT_STARTED or event.payment_key:
        return answer
    pg = get_gateway(event.gateway)
    quantity = sum(event.lines.values_list("quantity", flat=True))
    return _prepare_at_pg(pg, event, answer, quantity, buyer, idempotency)


def _replay(buyer, idempotency: IdempotencyKey) -> dict | None:
    record = IdempotencyRecord.objects.filter(member=buyer, key=idempotency.key).first()
    if record is None:
        return None
    if record.request_hash != idempotency.request_hash:
        raise DomainError(
            422, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used with another body."
        )
    return record.response_body


def _price_goods(lines: list[CheckoutLine]):
    ids = [line.product_id for line in lines]
    if len(set(ids)) != len(ids):
        raise DomainError(
            400,
            "INVALID_REQUEST",
            "Each product may appear once.",
            fields={"items": ["duplicate productId"]},
        )
    products = Product.objects.in_bulk(ids)
    missing = [pid for pid in ids if pid not in products]
    if missing:
        raise DomainError(
            400,
            "INVALID_REQUEST",
            f"Unknown product {missing[0]}.",
            fields={"items": [f"unknown productId {pid}" for pid in missing]},
        )
    priced = [
        (products[line.product_id], line.quantity, products[line.product_id].price * line.quantity)
        for line in lines
    ]
    total = sum(amount for _, _, amount in priced)
    if total > settings.PAYMENT_MAX_AMOUNT:
        raise DomainError(
            400, "INVALID_REQUEST", f"The total may not exceed {settings.PAYMENT_MAX_AMOUNT} KRW."
        )
    first = products[lines[0].product_id].name
    name = first if len(lines) == 1 else f"{first} 외 {len(lines) - 1}건"
    return priced, total, name[:100]


def _price_points(amount: int | None):
    low, high = settings.POINT_CHARGE_MIN_AMOUNT, settings.POINT_CHARGE_MAX_AMOUNT
    if amount is None or not low <= amount <= high:
        raise DomainError(
            400,
            "INVALID_REQUEST",
            f"A point charge is {low} to {high} KRW.",
            fields={"amount": [f"must be between {low} and {high}"]},
        )
    return [(None, 1, amount)], amount, f"포인트 충전 {amount:,}원"

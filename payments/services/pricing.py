"""The server prices every order: the client names products and quantities, never amounts.

It also fixes each line's commission, the platform's cut of it: the seller's own rate or
PLATFORM_COMMISSION_RATE, times the line's amount, rounded down to the won. The seller is
owed the rest, so a line's commission and the seller's share always add up to it.
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.conf import settings

from config.errors import DomainError
from products.selectors import product_in_bulk


@dataclass(frozen=True)
class PricedLine:
    product_id: int | None  # None: a point top-up
    seller_id: int | None
    quantity: int
    amount: int
    commission: int = 0


@dataclass(frozen=True)
class Priced:
    lines: list[PricedLine]
    total: int
    order_name: str

    def stock(self) -> dict[int, int]:
        """What the order holds on the shelf: product id -> quantity."""
        return {line.product_id: line.quantity for line in self.lines if line.product_id}

    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


def price_goods(*, quantities: list[tuple[int, int]]) -> Priced:
    """Price (product id, quantity) lines at today's prices; DomainError INVALID_REQUEST for
    a repeated or unknown product, or a total over PAYMENT_MAX_AMOUNT."""
    ids = [product_id for product_id, _ in quantities]
    if len(set(ids)) != len(ids):
        raise DomainError(
            "INVALID_REQUEST",
            "Each product may appear once.",
            fields={"items": ["duplicate productId"]},
        )
    products = product_in_bulk(ids=ids)
    missing = [pid for pid in ids if pid not in products]
    if missing:
        raise DomainError(
            "INVALID_REQUEST",
            f"Unknown product {missing[0]}.",
            fields={"items": [f"unknown productId {pid}" for pid in missing]},
        )
    lines = []
    for pid, quantity in quantities:
        product, amount = products[pid], products[pid].price * quantity
        cut = commission(amount, product.seller.commission_rate)
        lines.append(PricedLine(pid, product.seller_id, quantity, amount, cut))
    total = sum(line.amount for line in lines)
    if total > settings.PAYMENT_MAX_AMOUNT:
        raise DomainError(
            "INVALID_REQUEST", f"The total may not exceed {settings.PAYMENT_MAX_AMOUNT} KRW."
        )
    first = products[ids[0]].name
    name = first if len(ids) == 1 else f"{first} 외 {len(ids) - 1}건"
    return Priced(lines, total, name[:100])


def commission(amount: int, seller_rate: Decimal | None) -> int:
    """The platform's cut of a line of `amount` KRW, in whole won, rounded down."""
    rate = settings.PLATFORM_COMMISSION_RATE if seller_rate is None else seller_rate
    return int((Decimal(amount) * rate).to_integral_value(rounding=ROUND_DOWN))


def price_points(*, amount: int | None) -> Priced:
    """A point top-up of `amount` KRW, inside POINT_CHARGE_MIN_AMOUNT..MAX_AMOUNT."""
    low, high = settings.POINT_CHARGE_MIN_AMOUNT, settings.POINT_CHARGE_MAX_AMOUNT
    if amount is None or not low <= amount <= high:
        raise DomainError(
            "INVALID_REQUEST",
            f"A point charge is {low} to {high} KRW.",
            fields={"amount": [f"must be between {low} and {high}"]},
        )
    return Priced([PricedLine(None, None, 1, amount)], amount, f"포인트 충전 {amount:,}원")

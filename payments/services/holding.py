"""How much of the shelf one member may hold, and how often they may ask for more.

A checkout reserves stock for as long as the PG's windows allow (CHECKOUT_EXPIRY_SECONDS,
40 minutes: the buyer may be typing a card number), so a member who checks out without
paying keeps others from buying. Three limits, each a setting:

- CHECKOUT_MAX_OPEN_PER_MEMBER open (NOT_STARTED) checkouts at once (429
  TOO_MANY_OPEN_CHECKOUTS; one ends when it is paid, fails or expires);
- CHECKOUT_MAX_HELD_PER_PRODUCT units of one product held by one member across the
  payments still open (409 HOLD_LIMIT with the productId);
- CHECKOUT_RATE_PER_MINUTE checkouts per member in any 60 seconds (429 RATE_LIMITED).

The checks run in the checkout's transaction with the member's row locked, so two
concurrent checkouts of one member cannot both slip under a limit.
"""

import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from config.errors import DomainError
from members.models import Member
from payments.models import PaymentEvent, PaymentOrder
from payments.models import PaymentStatus as S

# Statuses whose lines still hold stock for the buyer (a SUCCESS is sold, not held).
HOLDING = (S.NOT_STARTED, S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION)
WINDOW_SECONDS = 60


def checkout_rate_key(buyer) -> str:
    return f"checkout-times:{buyer.pk}"


def checkout_rate_check(*, buyer) -> None:
    """At most CHECKOUT_RATE_PER_MINUTE checkouts in any 60 s (the times kept in the cache)."""
    key = checkout_rate_key(buyer)
    now = time.time()
    times = [t for t in cache.get(key, []) if t > now - WINDOW_SECONDS]
    if len(times) >= settings.CHECKOUT_RATE_PER_MINUTE:
        wait = int(times[0] + WINDOW_SECONDS - now) + 1
        raise DomainError(
            "RATE_LIMITED", "Too many checkouts; try again shortly.", retryAfter=max(1, wait)
        )
    cache.set(key, [*times, now], WINDOW_SECONDS)


def checkout_holding_check(*, buyer, quantities: dict[int, int]) -> None:
    """Run inside the checkout's transaction: lock the member, then count what it holds."""
    Member.objects.select_for_update().filter(pk=buyer.pk).values_list("pk").first()
    recent = timezone.now() - timedelta(seconds=settings.CHECKOUT_EXPIRY_SECONDS)
    open_checkouts = PaymentEvent.objects.filter(
        buyer=buyer, status=S.NOT_STARTED, created_at__gte=recent
    ).count()
    if open_checkouts >= settings.CHECKOUT_MAX_OPEN_PER_MEMBER:
        raise DomainError(
            "TOO_MANY_OPEN_CHECKOUTS",
            f"At most {settings.CHECKOUT_MAX_OPEN_PER_MEMBER} unpaid checkouts at once;"
            " pay or wait for one to expire.",
            retryAfter=60,
        )
    if not quantities:
        return
    held = dict(
        PaymentOrder.objects.filter(
            event__buyer=buyer, event__status__in=HOLDING, product_id__in=list(quantities)
        )
        .values_list("product_id")
        .annotate(held=Sum("quantity"))
    )
    for product_id, quantity in sorted(quantities.items()):
        if held.get(product_id, 0) + quantity > settings.CHECKOUT_MAX_HELD_PER_PRODUCT:
            raise DomainError(
                "HOLD_LIMIT",
                f"One member may hold at most {settings.CHECKOUT_MAX_HELD_PER_PRODUCT}"
                f" of product {product_id} in unpaid or unsettled orders.",
                productId=product_id,
            )

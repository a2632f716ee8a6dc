"""Stock: the only code that writes Product.stock.

Both directions are conditional UPDATEs in product-id order, so two orders never
deadlock on each other's rows and nothing holds a lock past the caller's short
transaction: reserving is `stock = stock - q WHERE id = ? AND stock >= q` (no oversell;
the check constraint refuses a negative stock even for a bug), releasing adds it back.
"""

from django.db import transaction
from django.db.models import F

from config.errors import DomainError
from products.models import Product


def stock_reserve(*, quantities: dict[int, int]) -> None:
    """Take `quantities` (product id -> how many) off the shelf, all or nothing.

    Run it inside the transaction that creates what the stock is held for: a product
    short of stock raises DomainError OUT_OF_STOCK (naming it) and rolls the lot back.
    """
    with transaction.atomic(savepoint=False):
        for product_id in sorted(quantities):
            quantity = quantities[product_id]
            taken = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
                stock=F("stock") - quantity
            )
            if not taken:
                raise DomainError(
                    "OUT_OF_STOCK",
                    f"Not enough stock for product {product_id}.",
                    productId=product_id,
                )


def stock_release(*, quantities: dict[int, int]) -> None:
    """Put `quantities` (product id -> how many) back on the shelf."""
    with transaction.atomic(savepoint=False):
        for product_id in sorted(quantities):
            if quantities[product_id]:
                Product.objects.filter(pk=product_id).update(
                    stock=F("stock") + quantities[product_id]
                )

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Seller(models.Model):
    """Who ships the goods and is paid for them: its wallet is the ledger account
    seller_payable:<id> (what the platform owes it)."""

    name = models.CharField(max_length=100, unique=True)
    # The platform's cut of this seller's sales; empty: PLATFORM_COMMISSION_RATE.
    commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(Decimal("0.9999"))],
        help_text="0.1 = 10 %; empty: the platform default",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    price = models.IntegerField(help_text="KRW, whole won")
    # Changed only by conditional UPDATEs (stock = stock - q WHERE stock >= q) and the
    # stock-restore job; the check constraint makes overselling impossible even for a bug.
    stock = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=models.Q(stock__gte=0), name="product_stock_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

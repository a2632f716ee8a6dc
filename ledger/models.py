"""The books: accounts, journal entries and their postings, in whole won.

A JournalEntry is one business event (a payment succeeded, points were spent), unique on
(kind, reference), so writing it again is a no-op. Its postings sum to zero (a debit is
positive, a credit negative). Entries and postings are written once and never changed or
deleted: a mistake is corrected by a new entry. The model refuses save() of an existing
row, delete(), and queryset update() and delete(); the admin shows them read-only.

Account.balance caches the sum of the account's postings, and is changed only in the
transaction that writes them (ledger.services.entry_post); `manage.py ledger_check`
proves it.
"""

from django.conf import settings
from django.db import models

from config.db.fields import ExactCharField
from ledger.accounts import Kind


class ImmutableError(Exception):
    """An attempt to change or delete what the books have recorded."""


class _WriteOnceQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableError(f"{self.model.__name__} rows are never changed")

    def delete(self):
        raise ImmutableError(f"{self.model.__name__} rows are never deleted")


class _WriteOnce(models.Model):
    objects = _WriteOnceQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} {self.pk} is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{type(self).__name__} {self.pk} is never deleted")


class Account(models.Model):
    code = ExactCharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    owner = models.CharField(max_length=10)  # platform, gateway, seller or member
    gateway = models.CharField(max_length=20, blank=True, default="")
    seller = models.ForeignKey(
        "products.Seller", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
    )
    # The sum of this account's postings (debits positive). Changed only by entry_post.
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def normal_balance(self) -> int:
        """The balance as its kind reads it: what a liability owes, what an asset holds."""
        return -self.balance if self.kind in (Kind.LIABILITY, Kind.REVENUE) else self.balance


class EntryKind(models.TextChoices):
    GOODS_PAID = "GOODS_PAID", "상품 결제"
    TOP_UP_PAID = "TOP_UP_PAID", "포인트 충전"
    POINTS_SPENT = "POINTS_SPENT", "포인트 사용"
    POINTS_RETURNED = "POINTS_RETURNED", "포인트 반환"
    GOODS_REFUNDED = "GOODS_REFUNDED", "상품 환불"
    TOP_UP_REFUNDED = "TOP_UP_REFUNDED", "포인트 충전 환불"
    # A top-up's refund holds the points it takes back while the PG is asked, and gives
    # them back if the PG refuses.
    REFUND_POINTS_HELD = "REFUND_POINTS_HELD", "환불 포인트 보류"
    REFUND_POINTS_RELEASED = "REFUND_POINTS_RELEASED", "환불 포인트 보류 해제"
    # Reconciliation (정산대사), one of each per gateway and day: what the PG kept, and
    # what it paid into our bank on the payout date.
    PG_FEES = "PG_FEES", "PG 수수료"
    PG_PAYOUT = "PG_PAYOUT", "PG 정산 입금"


class JournalEntry(_WriteOnce):
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    # What the event is about: for a payment's entries, its orderId.
    reference = ExactCharField(max_length=100)
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="entry_once_per_event")
        ]
        indexes = [models.Index(fields=["reference"], name="entry_reference")]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class Posting(_WriteOnce):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount = models.BigIntegerField()  # KRW; a debit is positive, a credit negative

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="posting_not_zero")
        ]
        # an account's movements, newest first (a member's points)
        indexes = [models.Index(fields=["account", "-id"], name="posting_account_newest")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d}"

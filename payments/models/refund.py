"""Refunds: money (and points) given back for a paid order, all of it or part.

A Refund is one cancel at the PG, with its own idempotency key, and its own state
machine (payments.refund_states):

    REQUESTED --claimed for the PG call--> EXECUTING --PG cancelled--> SUCCEEDED
    EXECUTING --the PG refused--> FAILED
    EXECUTING --no answer (timeout, 5xx after retries, a crash)--> UNKNOWN
    UNKNOWN --recovery finds our cancel at the PG, or proves it never happened--> ...
    UNKNOWN --budget spent and still unsure--> NEEDS_ATTENTION (an operator decides)

A paid virtual account's money goes back by bank transfer, to an account the buyer names:

    (created) --a late deposit's, no bank account yet--> AWAITING_ACCOUNT
    EXECUTING, UNKNOWN, NEEDS_ATTENTION --a system refund the PG refused--> AWAITING_ACCOUNT
    AWAITING_ACCOUNT --the buyer or an operator gives one--> REQUESTED (sent again)

Its amount is reserved against the payment before the PG is asked (PaymentEvent's
refund_reserved and points_refund_reserved, PaymentOrder's refund_reserved_quantity,
each a conditional UPDATE), so concurrent refunds can never exceed what was paid.
"""

from django.db import models

from config.db.fields import ExactCharField
from payments.models.payment import PaymentEvent, PaymentOrder, generation_key


class RefundStatus(models.TextChoices):
    REQUESTED = "REQUESTED"
    EXECUTING = "EXECUTING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    # Waits for the buyer's bank account (services.refund_account): the buyer's move, not
    # an operator's, so it is not in doubt; nothing was sent, or the PG refused it.
    AWAITING_ACCOUNT = "AWAITING_ACCOUNT"


class Refund(models.Model):
    event = models.ForeignKey(PaymentEvent, on_delete=models.PROTECT, related_name="refunds")
    status = models.CharField(
        max_length=20, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    # What the PG gives back (cancelled at the PG) and what goes back as points: the PG's
    # share first, points once the PG's share is all given back (docs/refunds.md).
    pg_amount = models.BigIntegerField()
    points_amount = models.BigIntegerField(default=0)
    # Whether the refunded lines' stock goes back (a refund by items or of everything).
    restock = models.BooleanField(default=False)
    reason = models.CharField(max_length=200)
    actor = models.CharField(max_length=150)  # buyer, an operator's username, pg, system
    # Sent with every cancel of this refund: Toss's Idempotency-Key, NicePay's cancel
    # orderId (at most 64 characters), KakaoPay's payload.
    pg_idempotency_key = ExactCharField(max_length=64, unique=True)
    # Like a payment's (key_rotation.py): the key sent is pg_idempotency_key, then
    # "<key>.<generation>" once recovery had to change it; the note carries either.
    pg_key_generation = models.PositiveSmallIntegerField(default=0)
    # The PG's key for this cancel once known (Toss transactionKey, NicePay cancelledTid,
    # KakaoPay aid): how recovery and reconciliation find it among the PG's cancels.
    pg_transaction_key = ExactCharField(max_length=64, blank=True, default="")
    # The PG's cancellable balance when we sent the cancel (KakaoPay checks it).
    pg_balance_before = models.BigIntegerField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    retry_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # A paid virtual account's money goes back to the buyer's own bank account, which the
    # PG needs with the cancel (Toss refundReceiveAccount). Kept until the refund is done
    # (recovery may have to send it again); shown and logged masked only.
    refund_bank_code = models.CharField(max_length=3, blank=True, default="")
    refund_account_number = models.CharField(max_length=20, blank=True, default="")
    refund_account_holder = models.CharField(max_length=60, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pg_amount__gte=0)
                & models.Q(points_amount__gte=0)
                & (models.Q(pg_amount__gt=0) | models.Q(points_amount__gt=0)),
                name="refund_amount_positive",
            ),
        ]
        indexes = [
            # refund recovery: due UNKNOWN ones, stuck EXECUTING or REQUESTED ones
            models.Index(fields=["status", "next_attempt_at"], name="refund_status_due"),
            models.Index(fields=["status", "updated_at"], name="refund_status_updated"),
        ]
        permissions = [("refund_paymentevent", "Can refund a payment")]

    def __str__(self) -> str:
        return f"refund {self.pk} of payment {self.event_id}: {self.amount} KRW {self.status}"

    @property
    def amount(self) -> int:
        return self.pg_amount + self.points_amount

    @property
    def pg_request_key(self) -> str:
        """The key its cancel is sent with now (Toss's Idempotency-Key, in its reason too)."""
        return generation_key(self.pg_idempotency_key, self.pg_key_generation)

    @property
    def reference(self) -> str:
        """Its journal entries' reference: the payment's orderId, then the refund's id."""
        return f"{self.event.order_id}/refund/{self.pk}"


class RefundLine(models.Model):
    """A refund's share of one payment line: the money it gives back for that line (and
    the commission share of it, which the books take back from revenue), and the units
    it returns to stock (0 for a refund of money only). Decided when the refund is
    requested, so the books only read it."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.PositiveIntegerField(default=0)
    amount = models.BigIntegerField()
    commission = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Money, units, or both: the last units of a line whose money a refund of
            # money only already gave back come back for nothing.
            models.CheckConstraint(
                condition=models.Q(amount__gte=0, commission__gte=0)
                & (models.Q(amount__gt=0) | models.Q(quantity__gt=0)),
                name="refund_line_positive",
            ),
            models.UniqueConstraint(fields=["refund", "line"], name="refund_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.line_id} ({self.amount} KRW)"


class RefundHistory(models.Model):
    """Append-only: one row per refund status change, shown on the payment's timeline."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="history")
    event = models.ForeignKey(PaymentEvent, on_delete=models.CASCADE, related_name="refund_history")
    from_status = models.CharField(max_length=20, blank=True, default="")  # "" for creation
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=64)
    actor = models.CharField(max_length=150)
    pg_code = models.CharField(max_length=64, blank=True, default="")
    pg_message = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        get_latest_by = "id"  # refund.history.latest(): how it stands, and why
        verbose_name_plural = "refund history"

    def __str__(self) -> str:
        return f"refund {self.refund_id}: {self.from_status or '-'} -> {self.to_status}"

"""A payment: one PaymentEvent per orderId (the PG confirms one payment per orderId),
its lines, history, stock restore, outbox rows, idempotency records and webhooks.

Status changes happen only through payments.states.transition (a conditional UPDATE
plus its PaymentHistory row); never save() a status.
"""

from django.conf import settings
from django.db import models

from config.db.fields import ExactCharField


class PaymentStatus(models.TextChoices):
    NOT_STARTED = "NOT_STARTED"
    EXECUTING = "EXECUTING"
    UNKNOWN = "UNKNOWN"
    # A virtual account (가상계좌) was issued: stock and points stay held until the buyer
    # pays into it (SUCCESS) or its due date passes (FAILURE, DEPOSIT_EXPIRED).
    AWAITING_DEPOSIT = "AWAITING_DEPOSIT"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    CANCELED = "CANCELED"
    PARTIAL_CANCELED = "PARTIAL_CANCELED"


class Purpose(models.TextChoices):
    GOODS = "GOODS"
    POINT_CHARGE = "POINT_CHARGE"


class PaymentEvent(models.Model):
    order_id = ExactCharField(max_length=64, unique=True)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    gateway = models.CharField(max_length=20)
    order_name = models.CharField(max_length=100)
    # What the PG is asked to charge: the lines' sum less points_used (0: paid with points).
    total_amount = models.BigIntegerField()
    # Points the buyer spent on this order (goods only), held from checkout on.
    points_used = models.BigIntegerField(default=0)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.GOODS)
    # NULL until confirm: many unconfirmed payments may lack one, yet two payments may
    # never share one (the unique constraint ignores NULLs; it would not ignore "").
    payment_key = ExactCharField(max_length=200, null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.NOT_STARTED
    )
    # What the buyer's window returned besides the key (KakaoPay's one-time pg_token),
    # kept so that recovery can send the same confirm again.
    pg_auth_token = ExactCharField(max_length=255, blank=True, default="")
    # Sent on every confirm of this payment, by the request and by recovery alike, with
    # ".<generation>" after it once recovery has had to change it (key_rotation.py: only
    # for a PG whose duplicate guard is this key, only after a lookup proved it safe).
    pg_idempotency_key = ExactCharField(max_length=64, unique=True)
    pg_key_generation = models.PositiveSmallIntegerField(default=0)
    retry_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker owns the event until lease_until (recovery); a conditional UPDATE takes it.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    # How the buyer asked to pay at checkout (payments.models.details.Method); the PG's
    # own word on how it was paid is in PaymentDetail.
    method = models.CharField(max_length=20, default="CARD")
    # AWAITING_DEPOSIT: the virtual account's due date. The deposit watch (deposits.py)
    # finds these by (status, next_attempt_at), which for an AWAITING_DEPOSIT payment is
    # when the watch looks next (for UNKNOWN, recovery's next attempt).
    deposit_due_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=255, blank=True, default="")
    # Refunds (payments.models.refund). What the PG has given back, and what refunds in
    # flight have reserved of the rest; the same for points. Changed only by conditional
    # UPDATEs (payments.services.refund), never above total_amount and points_used.
    canceled_amount = models.BigIntegerField(default=0)
    refund_reserved = models.BigIntegerField(default=0)
    points_refunded = models.BigIntegerField(default=0)
    points_refund_reserved = models.BigIntegerField(default=0)
    is_payment_done = models.BooleanField(default=False)  # booked by the outbox relay
    created_at = models.DateTimeField(auto_now_add=True)
    # Set explicitly by every transition (queryset updates skip auto_now).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_amount__gt=0) | models.Q(points_used__gt=0),
                name="payment_total_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=0) & models.Q(points_used__gte=0),
                name="payment_amounts_non_negative",
            ),
            models.UniqueConstraint(
                fields=["gateway", "payment_key"], name="payment_key_unique_per_gateway"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    canceled_amount__gte=0,
                    refund_reserved__gte=0,
                    canceled_amount__lte=models.F("total_amount") - models.F("refund_reserved"),
                ),
                name="payment_refunds_within_total",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    points_refunded__gte=0,
                    points_refund_reserved__gte=0,
                    points_refunded__lte=models.F("points_used")
                    - models.F("points_refund_reserved"),
                ),
                name="payment_point_refunds_within_used",
            ),
        ]
        indexes = [
            # recovery: due UNKNOWN events; stuck EXECUTING; expiry of NOT_STARTED; metrics
            models.Index(fields=["status", "next_attempt_at"], name="payment_status_due"),
            models.Index(fields=["status", "updated_at"], name="payment_status_updated"),
            models.Index(fields=["status", "created_at"], name="payment_status_created"),
            # a member's payments, newest first (cursor pagination on id)
            models.Index(fields=["buyer", "-id"], name="payment_buyer_newest"),
        ]
        # What an operator may do beyond looking (payments/admin.py, the "payment
        # operators" group). Nobody gets "change": money and status are never edited.
        permissions = [
            ("recheck_paymentevent", "Can re-check a payment with its PG"),
            ("resolve_paymentevent", "Can resolve a payment that needs attention"),
            ("retry_compensation", "Can retry a payment's stock restore"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"

    @property
    def pg_request_key(self) -> str:
        """The Idempotency-Key its confirms are sent with now."""
        return generation_key(self.pg_idempotency_key, self.pg_key_generation)


def generation_key(key: str, generation: int) -> str:
    """A request key after `generation` changes: the first key, then "<key>.<n>", so the
    first key is found in every note a cancel under any of them carries."""
    return f"{key}.{generation}" if generation else key


class PaymentOrder(models.Model):
    """One line of a payment: a product and quantity (or, for points, the top-up)."""

    event = models.ForeignKey(PaymentEvent, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("products.Product", on_delete=models.PROTECT, null=True, blank=True)
    seller = models.ForeignKey("products.Seller", on_delete=models.PROTECT, null=True, blank=True)
    quantity = models.PositiveIntegerField()
    amount = models.BigIntegerField()
    # The platform's cut of `amount`, fixed at checkout (payments.services.pricing).
    commission = models.BigIntegerField(default=0)
    # Given back by refunds, and reserved by refunds in flight (never above quantity).
    canceled_quantity = models.PositiveIntegerField(default=0)
    refund_reserved_quantity = models.PositiveIntegerField(default=0)
    # The money of this line that refunds have claimed, in flight or done (never above
    # amount): how a refund of money only is shared out among the lines.
    refund_claimed_amount = models.BigIntegerField(default=0)
    ledger_updated = models.BooleanField(default=False)
    wallet_updated = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="payment_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_line_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    canceled_quantity__lte=models.F("quantity")
                    - models.F("refund_reserved_quantity")
                ),
                name="payment_line_refunds_within_quantity",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    refund_claimed_amount__gte=0, refund_claimed_amount__lte=models.F("amount")
                ),
                name="payment_line_refunds_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} ({self.amount} KRW)"


def history_row(from_status, to_status, reason, actor, pg_code="", pg_message="") -> dict:
    """A history row's fields (a payment's or a refund's), cut to their columns."""
    return {
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "actor": actor,
        "pg_code": pg_code[:64],
        "pg_message": pg_message[:255],
    }


class PaymentHistory(models.Model):
    """Append-only: one row per status change, written in the transition's transaction."""

    event = models.ForeignKey(PaymentEvent, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=20, blank=True, default="")  # "" for creation
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=64)
    actor = models.CharField(max_length=150)  # api, worker, beat, or an operator's username
    pg_code = models.CharField(max_length=64, blank=True, default="")
    pg_message = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "payment history"

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status} ({self.reason})"


class CompensationJob(models.Model):
    """The stock restore owed by a FAILURE: created PROCESSING with it, DONE exactly once."""

    class Status(models.TextChoices):
        PROCESSING = "PROCESSING"
        DONE = "DONE"

    event = models.OneToOneField(
        PaymentEvent, on_delete=models.CASCADE, related_name="compensation"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROCESSING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    # True once the stock went back. A job closed because the PG had in fact approved the
    # payment (a false failure, now SUCCESS) is DONE without a restore.
    restored = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # the retry scan: PROCESSING jobs untouched the longest first
        indexes = [
            models.Index(
                fields=["status", "updated_at"],
                name="compensation_status_updated",
            ),
        ]

    def __str__(self) -> str:
        return f"stock restore for payment {self.event_id}: {self.status}"


class OutboxMessage(models.Model):
    """Work owed, written in the transaction that owes it: a booking (LEDGER: the journal
    entry, seller wallets, member points; payments.services.relay) of a SUCCESS or of a
    refund, or an asynchronous confirm's claim (CONFIRM: the PG confirm)."""

    class Kind(models.TextChoices):
        LEDGER = "LEDGER"
        CONFIRM = "CONFIRM"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        DONE = "DONE"
        # Failed OUTBOX_MAX_ATTEMPTS times: waits for an operator (admin: retry), alerted.
        PARKED = "PARKED"

    event = models.ForeignKey(PaymentEvent, on_delete=models.CASCADE, related_name="outbox")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # What of the payment it is about: "" the payment itself, "refund:<id>" a refund.
    ref = ExactCharField(max_length=32, blank=True, default="")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    # The relay takes a row when this has passed: it is its lease while a relay works on
    # it, and the pause after a failed attempt. NULL: at once.
    available_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "kind", "ref"], name="outbox_once_per_ref")
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="outbox_status_created"),
            models.Index(fields=["kind", "status", "id"], name="outbox_kind_status"),
        ]
        permissions = [("retry_outboxmessage", "Can retry a parked outbox row")]

    def __str__(self) -> str:
        return f"{self.kind} for payment {self.event_id}: {self.status}"


class IdempotencyRecord(models.Model):
    """A checkout's Idempotency-Key: the first request's fingerprint and answer (Stripe's rules)."""

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = ExactCharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "key"], name="idempotency_key_per_member")
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key!r} of member {self.member_id}"


class WebhookEvent(models.Model):
    """A PG's notification, stored raw before anything else (the inbox, docs/design.md).

    Never trusted: processing asks the PG for the payment and records what it says, so a
    forged, duplicated or out-of-order notification cannot change an outcome.
    """

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED"
        PROCESSED = "PROCESSED"  # the payment was re-checked at the PG because of it
        IGNORED = "IGNORED"  # nothing to do: no such order, or the payment is final

    gateway = models.CharField(max_length=20)
    # The notification's identity (for Toss: paymentKey, status and last transaction), so
    # a re-sent or duplicated delivery is stored once.
    event_key = ExactCharField(max_length=255)
    event_type = models.CharField(max_length=64)
    order_id = ExactCharField(max_length=64, blank=True, default="")
    pg_status = models.CharField(max_length=32, blank=True, default="")
    event = models.ForeignKey(
        PaymentEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhooks",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=255, blank=True, default="")
    # Whether processing it asked the PG (at most one such notice per payment per
    # WEBHOOK_RECHECK_INTERVAL_SECONDS).
    rechecked = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_key"], name="webhook_once")
        ]
        # the inbox re-drive: RECEIVED rows, oldest first
        indexes = [models.Index(fields=["status", "received_at"], name="webhook_status_received")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type} {self.pg_status} for {self.order_id}"

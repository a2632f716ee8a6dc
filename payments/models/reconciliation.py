"""Reconciliation: one run per gateway and Korean day, and what it found different.

A ReconciliationRun compares the PG's records of a day (Toss: its transactions and
settlements APIs; NicePay and KakaoPay: the settlement file) with our payments and
refunds (payments.services.reconcile). Each difference is a Discrepancy, unique on
(run, kind, reference), so running a day again finds the same rows and adds none. A
discrepancy is FIXED when the run settled it through the payment or refund paths (their
history rows say how), OPEN while it waits for an operator, RESOLVED once an operator
closed it (who, when, how).
"""

from django.db import models

from config.db.fields import ExactCharField
from payments.models.payment import PaymentEvent
from payments.models.refund import Refund


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING", "진행 중"
    DONE = "DONE", "완료"
    REFUSED = "REFUSED", "파일 거부"  # a bad settlement file: nothing was applied
    FAILED = "FAILED", "실패"  # the PG could not be read, or no file to read


class ReconciliationRun(models.Model):
    gateway = models.CharField(max_length=20)
    day = models.DateField()  # the Korean date reconciled
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    source = models.CharField(max_length=200, blank=True, default="")  # API or file name
    error = models.CharField(max_length=300, blank=True, default="")  # REFUSED/FAILED: why
    times_run = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # 거래대사: the PG's records of the day and how many matched ours as they were.
    records = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    # 정산대사: the day's totals as the PG reports them (signed: cancels negative), and
    # what the PG should pay out if its records were ours (our amounts less its fees).
    pg_amount = models.BigIntegerField(default=0)
    fee = models.BigIntegerField(default=0)
    payout = models.BigIntegerField(default=0)
    expected_payout = models.BigIntegerField(default=0)
    payout_date = models.DateField(null=True, blank=True)
    # The ledger entries the run wrote: fees at once, the payout on its payout date.
    fees_booked = models.BooleanField(default=False)
    payout_booked = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway", "day"], name="reconciliation_run_once")
        ]
        indexes = [models.Index(fields=["payout_booked", "payout_date"], name="recon_payout_due")]
        ordering = ["-day", "gateway"]
        permissions = [
            ("resolve_discrepancy", "Can resolve a reconciliation discrepancy"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.day} ({self.status})"


class DiscrepancyKind(models.TextChoices):
    APPROVED_NOT_SUCCESS = "APPROVED_NOT_SUCCESS", "PG 승인, 우리는 미완료"
    UNKNOWN_ORDER = "UNKNOWN_ORDER", "우리에게 없는 주문"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH", "금액 불일치"
    CANCEL_NOT_OURS = "CANCEL_NOT_OURS", "우리가 모르는 취소"
    MISSING_AT_PG = "MISSING_AT_PG", "PG에 없는 결제"
    REFUND_MISSING_AT_PG = "REFUND_MISSING_AT_PG", "PG에 없는 환불"


class DiscrepancyStatus(models.TextChoices):
    FIXED = "FIXED", "자동 수정"
    OPEN = "OPEN", "미해결"
    RESOLVED = "RESOLVED", "운영자 해결"


class Discrepancy(models.Model):
    run = models.ForeignKey(ReconciliationRun, on_delete=models.PROTECT, related_name="found")
    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    # What it is about, unique within the run's kind: the PG's transaction key, or our
    # orderId / refund key for what the PG lacks.
    reference = ExactCharField(max_length=200)
    status = models.CharField(max_length=10, choices=DiscrepancyStatus.choices)
    order_id = ExactCharField(max_length=64)
    event = models.ForeignKey(
        PaymentEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pg_amount = models.BigIntegerField(null=True, blank=True)  # signed, as the PG shows it
    our_amount = models.BigIntegerField(null=True, blank=True)  # signed, as we have it
    detail = models.CharField(max_length=300)  # what was found, and what the run did
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.CharField(max_length=150, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "reference"], name="discrepancy_once_per_run"
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="discrepancy_open_age")]
        verbose_name_plural = "discrepancies"

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} ({self.status})"

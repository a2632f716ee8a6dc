"""What the PG says about how the buyer paid (PaymentDetail), one row per payment.

Written from the PG's own answers (confirm, lookup) through the settle path, never from
what a client sends: the card company, the masked card number, installments, approval
number, easy-pay provider, receipt URL, cash receipt, and for a virtual account the bank,
account number, holder and due date. No full card number, no secret: the gateway
adapters mask and redact (gateways/details.py) before anything reaches here, and the
deposit secret of a virtual account is kept only as its SHA-256, to compare with the one
a DEPOSIT_CALLBACK carries.
"""

from django.db import models

from payments.models.payment import PaymentEvent


class Method(models.TextChoices):
    CARD = "CARD", "카드"
    EASY_PAY = "EASY_PAY", "간편결제"
    VIRTUAL_ACCOUNT = "VIRTUAL_ACCOUNT", "가상계좌"
    TRANSFER = "TRANSFER", "계좌이체"
    MOBILE = "MOBILE", "휴대폰"
    OTHER = "OTHER", "기타"


class PaymentDetail(models.Model):
    event = models.OneToOneField(
        PaymentEvent, on_delete=models.PROTECT, primary_key=True, related_name="detail"
    )
    method = models.CharField(max_length=20, choices=Method.choices, blank=True, default="")
    card_company = models.CharField(max_length=40, blank=True, default="")
    card_number = models.CharField(max_length=40, blank=True, default="")  # masked by the PG
    card_type = models.CharField(max_length=10, blank=True, default="")
    installment_months = models.PositiveSmallIntegerField(default=0)
    approval_number = models.CharField(max_length=20, blank=True, default="")
    easy_pay_provider = models.CharField(max_length=40, blank=True, default="")
    receipt_url = models.URLField(max_length=2000, blank=True, default="")
    cash_receipt_type = models.CharField(max_length=20, blank=True, default="")
    cash_receipt_url = models.URLField(max_length=2000, blank=True, default="")
    cash_receipt_number = models.CharField(max_length=40, blank=True, default="")
    # A virtual account: where the buyer pays in, and until when.
    bank_code = models.CharField(max_length=10, blank=True, default="")
    bank_name = models.CharField(max_length=40, blank=True, default="")
    account_number = models.CharField(max_length=40, blank=True, default="")
    account_holder = models.CharField(max_length=60, blank=True, default="")
    due_at = models.DateTimeField(null=True, blank=True)
    deposit_secret_sha256 = models.CharField(max_length=64, blank=True, default="")
    # The PG's last answer, redacted (gateways.details.redacted): for support and audits.
    raw = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.method}"

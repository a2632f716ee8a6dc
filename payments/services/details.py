"""Keeping what the PG says about how the buyer paid (payments.models.PaymentDetail).

Written by the settle path in the transaction that records an outcome, from the PG's
record that decided it, so details and status never disagree. The gateway adapters
have already masked card numbers and removed secrets from the raw answer; the deposit
secret of a virtual account is kept only as its SHA-256.
"""

import hashlib
import hmac

from payments.models import PaymentDetail
from payments.services.pg import PgRecord


def payment_details_record(*, event_id: int, record: PgRecord) -> None:
    """Store the record's details for the payment (replacing what an earlier answer said;
    a secret, once known, is kept when a later answer leaves it out)."""
    details = record.details
    if details is None:
        return
    account = details.virtual_account
    receipt = details.cash_receipt
    values = {
        "method": details.method or "",
        "card_company": details.card_company or "",
        "card_number": details.card_number or "",
        "card_type": details.card_type or "",
        "installment_months": details.installment_months or 0,
        "approval_number": details.approval_number or "",
        "easy_pay_provider": details.easy_pay_provider or "",
        "receipt_url": details.receipt_url or "",
        "cash_receipt_type": (receipt.type or "") if receipt else "",
        "cash_receipt_url": (receipt.receipt_url or "") if receipt else "",
        "cash_receipt_number": (receipt.issue_number or "") if receipt else "",
        "bank_code": (account.bank_code or "") if account else "",
        "bank_name": (account.bank_name or "") if account else "",
        "account_number": (account.account_number or "") if account else "",
        "account_holder": (account.holder_name or "") if account else "",
        "due_at": account.due_date if account else None,
        "raw": record.raw,
    }
    if record.deposit_secret:
        values["deposit_secret_sha256"] = secret_digest(record.deposit_secret)
    PaymentDetail.objects.update_or_create(event_id=event_id, defaults=values)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def deposit_secret_matches(*, event_id: int, secret: str | None) -> bool:
    """Whether a DEPOSIT_CALLBACK's secret is the one the PG gave us when it issued the
    account (compared in constant time). False if either is missing."""
    stored = (
        PaymentDetail.objects.filter(event_id=event_id)
        .values_list("deposit_secret_sha256", flat=True)
        .first()
    )
    if not stored or not secret:
        return False
    return hmac.compare_digest(stored, secret_digest(secret))

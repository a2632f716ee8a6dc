"""PG calls shared by confirm and recovery: retries, and what an answer means for us."""

import random
import time
from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from config.db.connections import release_db_connections
from gateways import errors as pg_errors
from gateways.base import get_gateway
from gateways.types import CancelRequest, GatewayPayment, PaymentRef
from payments.models import PaymentEvent
from payments.models import PaymentStatus as S
from payments.services.outcome import Outcome, approved
from payments.services.verdict import Verdict, payment_judge

log = structlog.get_logger(__name__)


def payment_ref(event: PaymentEvent) -> PaymentRef:
    return PaymentRef(
        order_id=event.order_id, payment_key=event.payment_key, created_at=event.created_at
    )


def outcome_of_pg(event: PaymentEvent, pg: GatewayPayment, payment_key: str) -> Outcome:
    judgement = payment_judge(event=event, pg=pg, payment_key=payment_key)
    if judgement.verdict == Verdict.SUCCESS:
        return approved(judgement.reason, judgement.pg_code, pg)
    if judgement.verdict == Verdict.FAILURE:
        return Outcome(S.FAILURE, judgement.reason, judgement.pg_code, judgement.pg_message)
    if judgement.verdict == Verdict.AMOUNT_MISMATCH:
        return _cancel_wrong_amount(event, pg, judgement.pg_message)
    if judgement.verdict == Verdict.NEEDS_ATTENTION:
        return Outcome(S.NEEDS_ATTENTION, judgement.reason, judgement.pg_code)
    return Outcome(
        S.UNKNOWN, judgement.reason, judgement.pg_code, next_attempt_at=first_recovery_time()
    )


def _cancel_wrong_amount(event: PaymentEvent, pg: GatewayPayment, detail: str) -> Outcome:
    """Approved for another amount: not a success. Give the money back, then fail it."""
    log.error("pg_amount_mismatch", detail=detail)
    request = CancelRequest(
        order_id=event.order_id,
        payment_key=pg.payment_key,
        reason="결제 금액 불일치",
        amount=None,
        idempotency_key=f"{event.pg_idempotency_key}-amount-mismatch",
    )
    try:
        call_with_retries(lambda: get_gateway(event.gateway).cancel(request))
    except pg_errors.AlreadyProcessed:
        pass  # already cancelled: the money is back either way
    except pg_errors.GatewayError as exc:
        # The PG holds money for the wrong amount and would not give it back: a person must.
        return Outcome(S.NEEDS_ATTENTION, "PG_AMOUNT_MISMATCH_NOT_CANCELLED", exc.code, detail)
    return Outcome(S.FAILURE, "PG_AMOUNT_MISMATCH", "PG_AMOUNT_MISMATCH", detail)


def call_with_retries(call):
    """Run a PG call; repeat Retryable errors with exponential backoff and full jitter.

    Only Retryable is repeated (the same request, so the same idempotency key); an
    unknown outcome is left to recovery rather than waited on again here.
    """
    release_db_connections()
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return call()
        except pg_errors.Rejected as exc:
            # A refusal after an attempt whose outcome we could not see may be the PG
            # refusing a repeat of something it did: callers verify it (verify_decline).
            exc.after_retry = attempt > 0
            raise
        except pg_errors.Retryable:
            attempt += 1
            pause = random.uniform(  # noqa: S311 (jitter, not security)
                0,
                min(
                    settings.CONFIRM_BACKOFF_MAX_SECONDS,
                    settings.CONFIRM_BACKOFF_BASE_SECONDS * 2**attempt,
                ),
            )
            spent = time.monotonic() - started
            if (
                attempt >= settings.CONFIRM_MAX_ATTEMPTS
                or spent + pause > settings.CONFIRM_BUDGET_SECONDS
            ):
                raise
            log.info("pg_retry", attempt=attempt, pause_s=round(pause, 3))
            time.sleep(pause)


def unknown_outcome(reason: str, exc: pg_errors.GatewayError) -> Outcome:
    if isinstance(exc, pg_errors.OutcomeUnknown) and exc.code in (
        "UNAUTHORIZED_KEY",
        "INVALID_API_KEY",
    ):
        log.error("pg_configuration_error", code=exc.code)
    return Outcome(
        S.UNKNOWN, reason, exc.code, exc.message[:255], next_attempt_at=first_recovery_time()
    )


def first_recovery_time():
    return timezone.now() + timedelta(seconds=settings.RECOVERY_FIRST_DELAY_SECONDS)


def verify_decline(event: PaymentEvent, payment_key: str, exc: pg_errors.Rejected) -> Outcome:
    """A decline is final, unless it followed an attempt with an unseen outcome: then the
    PG's own record decides (an earlier attempt may have been approved)."""
    if not getattr(exc, "after_retry", False):
        return Outcome(S.FAILURE, "PG_DECLINED", exc.code, exc.message)
    try:
        found = get_gateway(event.gateway).lookup(payment_ref(event))
    except pg_errors.PaymentNotFound:
        return Outcome(S.FAILURE, "PG_DECLINED", exc.code, exc.message)
    except pg_errors.GatewayError as lookup_error:
        return unknown_outcome("DECLINE_UNVERIFIED", lookup_error)
    return outcome_of_pg(event, found, payment_key)

"""The PG port: the one way payments talks to a PG.

Every PG call our flows make (confirm, lookup, cancel, the pre-window step, reading a
webhook) goes through a function here, and nothing else in payments imports `gateways`.
Each function builds the gateway's request from our payment, gives the database
connections back before waiting (a slow PG must not hold one), repeats transient errors
where the operation allows it (the same request, so the same idempotency key), and
answers with a PgAnswer: the PG's record of the payment, or the class of error with the
PG's code. No gateway exception leaves this module.

What the answer means for the payment is decided elsewhere (payments.services.decisions).
"""

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import requests
import structlog
from django.conf import settings

from config.db.connections import release_db_connections
from config.errors import DomainError
from gateways import errors as pg_errors
from gateways import settlement_file, settlement_source
from gateways.base import PaymentGateway, get_gateway
from gateways.details import BANKS
from gateways.types import (
    TX_APPROVAL,
    TX_CANCEL,
    CancelRequest,
    ConfirmRequest,
    GatewayPayment,
    InvalidRefundAccount,
    PaymentRef,
    PgSettlement,
    PgStatus,
    PgTransaction,
    Prepared,
    PrepareRequest,
    RefundAccount,
    WebhookNotice,
)
from payments.models import PaymentEvent
from payments.services.pg_health import health_note

log = structlog.get_logger(__name__)

# The PG's record of a payment, normalised by its gateway, and its normalised status.
PgRecord = GatewayPayment
__all__ = [
    "TX_APPROVAL",
    "TX_CANCEL",
    "PgAnswer",
    "PgError",
    "PgRecord",
    "PgSettlement",
    "PgStatus",
    "PgTransaction",
    "Prepared",
    "RefundAccount",
    "WebhookNotice",
]

# Codes that mean our keys or setup are wrong: a person must fix the configuration.
CONFIGURATION_CODES = frozenset({"UNAUTHORIZED_KEY", "INVALID_API_KEY"})
# "A request with this key is still being processed", "another request on this payment
# is running": the PG is working on something, so nothing under the key is proved done.
IN_FLIGHT_CODES = frozenset({"IDEMPOTENT_REQUEST_PROCESSING", "FORBIDDEN_CONSECUTIVE_REQUEST"})


class PgError(StrEnum):
    """Why an answer carries no record."""

    DECLINED = "DECLINED"  # a final refusal: the card company, or the PG, said no
    NOT_FOUND = "NOT_FOUND"  # the PG has no such payment
    ALREADY_DONE = "ALREADY_DONE"  # the PG had already done it (a cancel made before)
    # Unreachable, timed out, 5xx after the retries, unreadable, or our keys refused:
    # what the PG did is not known.
    NO_ANSWER = "NO_ANSWER"


@dataclass(frozen=True)
class PgAnswer:
    """What the PG said when asked one thing: its record, or an error class and code."""

    operation: str  # what was asked: confirm, lookup, cancel, prepare
    record: PgRecord | Prepared | None = None
    error: PgError | None = None
    code: str = ""
    message: str = ""
    # A refusal that came after an attempt whose outcome we did not see: the PG may be
    # refusing a repeat of something it did (decisions verify it).
    after_retry: bool = False
    # Every attempt of this call (two at least, all under its one Idempotency-Key) was
    # answered with the same transient 4xx, none a timeout, a 5xx or "still processing"
    # (IN_FLIGHT_CODES): a PG that stores
    # errors under the key may be replaying it, and no request with the key is in flight.
    # Only for a PG whose guard is that key (key_rotation.py decides what follows).
    key_replayed: bool = False

    @property
    def said(self) -> str:
        """The PG's word in one token, for notes and history: its code or its status."""
        if self.record is None:
            return self.code
        return getattr(self.record, "raw_status", "")


def pg_confirm(event: PaymentEvent) -> PgAnswer:
    """Ask the PG to approve the payment, with its own idempotency key on every attempt.

    "Already processed" is answered by the PG's record (a lookup), so the answer is
    always the record or why there is none; `operation` says which call answered.
    """
    gateway = get_gateway(event.gateway)
    request = ConfirmRequest(
        order_id=event.order_id,
        payment_key=event.payment_key,
        amount=event.total_amount,
        idempotency_key=event.pg_request_key,
        auth_token=event.pg_auth_token or None,
        buyer_ref=str(event.buyer_id),
    )
    answer = _ask(gateway, "confirm", lambda: gateway.confirm(request), retries=True)
    if answer.error == PgError.ALREADY_DONE:
        return _ask(gateway, "lookup", lambda: gateway.lookup(_ref(event)), retries=True)
    return answer


def pg_lookup(event: PaymentEvent) -> PgAnswer:
    """The PG's record of the payment, asked once, the way this PG finds it best."""
    gateway = get_gateway(event.gateway)
    return _ask(gateway, "lookup", lambda: gateway.lookup(_ref(event)), retries=False)


def pg_find_key(code: str, payment_key: str) -> PgAnswer:
    """The PG's record of a paymentKey, whichever order it belongs to (asked once)."""
    gateway = get_gateway(code)
    return _ask(gateway, "lookup", lambda: gateway.get_payment(payment_key), retries=False)


def pg_cancel(
    event: PaymentEvent,
    *,
    payment_key: str,
    amount: int | None,
    reason: str,
    idempotency_key: str,
    expected_balance: int | None = None,
    refund_account: RefundAccount | None = None,
) -> PgAnswer:
    """Cancel all (amount None) or part of an approved payment, retrying transient errors
    (each retry the same request: the same key, the same expected balance). A paid
    virtual account's cancel carries the buyer's `refund_account`."""
    gateway = get_gateway(event.gateway)
    request = CancelRequest(
        order_id=event.order_id,
        payment_key=payment_key,
        reason=reason,
        amount=amount,
        idempotency_key=idempotency_key,
        expected_balance=expected_balance,
        refund_account=refund_account,
    )
    return _ask(gateway, "cancel", lambda: gateway.cancel(request), retries=True)


def pg_prepare(
    event: PaymentEvent, *, quantity: int, approval_url: str, cancel_url: str, fail_url: str
) -> PgAnswer:
    """The PG's own step before its window (KakaoPay ready), asked once.

    The record is a Prepared (the PG's key for the payment, where to send the buyer), or
    None with no error for PGs that have no such step (they are not asked at all, so
    their checkout keeps its database connection).
    """
    gateway = get_gateway(event.gateway)
    if not gateway.prepares:
        return PgAnswer("prepare")
    request = PrepareRequest(
        order_id=event.order_id,
        order_name=event.order_name,
        amount=event.total_amount,
        quantity=quantity,
        buyer_ref=str(event.buyer_id),
        approval_url=approval_url,
        cancel_url=cancel_url,
        fail_url=fail_url,
    )
    return _ask(gateway, "prepare", lambda: gateway.prepare(request), retries=False)


def pg_prepare_lease(code: str) -> timedelta | None:
    """How long a prepare can take at most (its timeouts, and a margin), None for a PG
    that has no prepare step. A replay inside it must not start a second prepare."""
    gateway = get_gateway(code)
    if not gateway.prepares:
        return None
    config = gateway.config
    return timedelta(seconds=config["CONNECT_TIMEOUT"] + config["READ_TIMEOUT"] + 2)


def pg_confirm_credentials(event: PaymentEvent, client_value: str) -> tuple[str, str | None]:
    """(the PG's key for the payment, a one-time token) from what the shop's confirm sent.

    Toss and NicePay send the key itself; for KakaoPay the key came from ready and the
    shop sends the one-time pg_token.
    """
    if get_gateway(event.gateway).confirm_sends_token:
        return event.payment_key or "", client_value
    return client_value, None


def pg_refund_account(bank: str, number: str, holder: str) -> RefundAccount:
    """The buyer's bank account for a virtual account's refund, checked as the PGs need
    it (a known bank code, digits only up to 20, a holder up to 60 characters);
    DomainError INVALID_REQUEST naming the field otherwise."""
    try:
        return RefundAccount(bank_code=bank, account_number=number, holder_name=holder)
    except InvalidRefundAccount as exc:
        field = {"bank_code": "bank", "account_number": "accountNumber"}.get(
            exc.field, "holderName"
        )
        raise DomainError(
            "INVALID_REQUEST",
            "환불받을 계좌 정보를 확인하세요.",
            fields={f"refundReceiveAccount.{field}": [str(exc)]},
        ) from exc


def pg_refund_banks() -> list[tuple[str, str]]:
    """(code, name) of the banks a refund account may be at, for a form's choice; the
    code is the one refund accounts are given in (Toss's two digits)."""
    return [(b.toss, b.name) for b in BANKS]


def pg_issues_virtual_accounts(code: str) -> bool:
    return get_gateway(code).virtual_accounts


def pg_require(code: str) -> None:
    """DomainError UNSUPPORTED_GATEWAY unless `code` names a configured PG."""
    try:
        get_gateway(code)
    except pg_errors.UnsupportedGateway as exc:
        raise DomainError("UNSUPPORTED_GATEWAY", f"Unknown gateway {code!r}.") from exc


def pg_client_config(code: str) -> dict:
    """What the shop's frontend needs to open this PG's window (public values only)."""
    return get_gateway(code).client_config()


def pg_read_webhook(code: str, body: bytes) -> tuple[WebhookNotice, tuple[str, str]]:
    """A notification from this PG, and the answer (body, content type) the PG expects.

    DomainError UNSUPPORTED_GATEWAY for a PG that sends none, INVALID_REQUEST for a body
    that PG could not have sent.
    """
    try:
        gateway = get_gateway(code)
        return gateway.parse_webhook(body), gateway.webhook_ack()
    except pg_errors.UnsupportedGateway as exc:
        raise DomainError("UNSUPPORTED_GATEWAY", f"no webhooks from {code!r}") from exc
    except pg_errors.InvalidWebhook as exc:
        raise DomainError("INVALID_REQUEST", f"not a {code} notification: {exc}") from exc


def pg_reconciles_from_file(code: str) -> bool:
    """Whether this PG's records of a day come as a settlement file (no API to read)."""
    return get_gateway(code).reconciles_from_file


def pg_settlement_file(code: str, day: date) -> Path:
    """The day's settlement file of a PG without an API: fetched from its
    SETTLEMENT_FILE_URL when it has one, else the one an operator put in
    SETTLEMENT_FILE_DIR. DomainError SETTLEMENT_FILE_MISSING if there is none."""
    gateway = get_gateway(code)
    path = settlement_source.file_path(Path(settings.SETTLEMENT_FILE_DIR), code, day)
    url = gateway.config.get("SETTLEMENT_FILE_URL", "")
    if url:
        release_db_connections()
        try:
            settlement_source.fetch(url, path, day, timeout=gateway.config["READ_TIMEOUT"])
        except requests.RequestException as exc:
            raise DomainError(
                "SETTLEMENT_FILE_MISSING", f"{code} file of {day} not fetched: {exc}"
            ) from exc
    if not path.is_file():
        raise DomainError("SETTLEMENT_FILE_MISSING", f"no {code} settlement file at {path}")
    return path


def pg_check_file(code: str, path: Path, day: date) -> int:
    """The number of records in a settlement file of `day`, read through once.

    DomainError BAD_SETTLEMENT_FILE with the line and the reason at its first bad row.
    """
    gateway = get_gateway(code)
    try:
        return settlement_file.validate(path, merchant_id=gateway.merchant_id(), day=day)
    except settlement_file.BadSettlementFile as exc:
        raise DomainError("BAD_SETTLEMENT_FILE", str(exc), line=exc.line) from exc


def pg_day_records(
    code: str, day: date, *, path: Path | None = None
) -> tuple[Iterator[PgTransaction], Iterator[PgSettlement]]:
    """The PG's records of a Korean day, streamed: its transactions (approvals and
    cancels, for 거래대사) and its settlement lines (fees and payouts, for 정산대사).

    From the settlement file at `path` for a PG without a settlement API (check it with
    pg_check_file first: a bad row raises midway), else from the PG's API, page by page.
    DomainError GATEWAY_UNAVAILABLE if the PG cannot be read.
    """
    gateway = get_gateway(code)
    release_db_connections()  # pages may take long: no connection held while waiting
    if gateway.reconciles_from_file:
        if path is None:
            raise DomainError("SETTLEMENT_FILE_REQUIRED", f"{code} has no API: give its file")

        def rows():
            return settlement_file.read(path, merchant_id=gateway.merchant_id(), day=day)

        return (
            _unwrapped(code, (tx for tx, _ in rows())),
            _unwrapped(code, (line for _, line in rows())),
        )
    return (
        _unwrapped(code, gateway.day_transactions(day)),
        _unwrapped(code, gateway.day_settlements(day)),
    )


def _unwrapped(code: str, records: Iterator) -> Iterator:
    """`records` with a gateway's errors turned into the port's DomainErrors."""
    try:
        yield from records
    except settlement_file.BadSettlementFile as exc:
        raise DomainError("BAD_SETTLEMENT_FILE", str(exc), line=exc.line) from exc
    except pg_errors.GatewayError as exc:
        health_note(code, answered=isinstance(exc, pg_errors.Rejected))
        raise DomainError(
            "GATEWAY_UNAVAILABLE", f"{code} records could not be read: {exc.code or exc}"
        ) from exc


def _ref(event: PaymentEvent) -> PaymentRef:
    return PaymentRef(
        order_id=event.order_id, payment_key=event.payment_key, created_at=event.created_at
    )


def _ask(
    gateway: PaymentGateway, operation: str, call: Callable[[], object], *, retries: bool
) -> PgAnswer:
    """Make the call and read the result as a PgAnswer; note each call's outcome in the
    gateway's health (pg_health).

    With `retries`, Retryable errors are repeated (the same request) with exponential
    backoff and full jitter, at most CONFIRM_MAX_ATTEMPTS times inside
    CONFIRM_BUDGET_SECONDS. An unknown outcome is not waited on again here: recovery
    asks later.
    """
    release_db_connections()
    started = time.monotonic()
    attempt = 0
    answers: list[tuple[str, int | None]] = []  # (code, HTTP status) of each error
    while True:
        try:
            answer = _read(operation, call, after_retry=attempt > 0)
        except pg_errors.Retryable as exc:
            # A transient 4xx is still the PG answering (a stored error replayed, its
            # provider failing); only silence and 5xx say the PG itself is in trouble.
            answered = exc.http_status is not None and exc.http_status < 500
            health_note(gateway.code, answered=answered)
            release_db_connections()  # the note may have opened one: not held while waiting
            attempt += 1
            answers.append((exc.code, exc.http_status))
            pause = random.uniform(  # noqa: S311 (jitter, not security)
                0,
                min(
                    settings.CONFIRM_BACKOFF_MAX_SECONDS,
                    settings.CONFIRM_BACKOFF_BASE_SECONDS * 2**attempt,
                ),
            )
            spent = time.monotonic() - started
            if (
                not retries
                or attempt >= settings.CONFIRM_MAX_ATTEMPTS
                or spent + pause > settings.CONFIRM_BUDGET_SECONDS
            ):
                answer = _error(operation, exc, PgError.NO_ANSWER)
                keyed = gateway.keyed_idempotency
                return replace(answer, key_replayed=keyed and _replayed(answers))
            log.info("pg_retry", attempt=attempt, pause_s=round(pause, 3))
            time.sleep(pause)
        else:
            health_note(gateway.code, answered=answer.error != PgError.NO_ANSWER)
            return answer


def _read(operation: str, call: Callable[[], object], *, after_retry: bool) -> PgAnswer:
    """One call's answer; Retryable is left to the caller (it may repeat the call)."""
    try:
        return PgAnswer(operation, record=call())
    except pg_errors.Rejected as exc:
        return _error(operation, exc, PgError.DECLINED, after_retry=after_retry)
    except pg_errors.PaymentNotFound as exc:
        return _error(operation, exc, PgError.NOT_FOUND)
    except pg_errors.AlreadyProcessed as exc:
        return _error(operation, exc, PgError.ALREADY_DONE)
    except pg_errors.Retryable:
        raise
    except pg_errors.GatewayError as exc:  # OutcomeUnknown, ConfigError
        if exc.code in CONFIGURATION_CODES:
            log.error("pg_configuration_error", code=exc.code)
        return _error(operation, exc, PgError.NO_ANSWER)


def _replayed(answers: list[tuple[str, int | None]]) -> bool:
    """The same answered transient 4xx every time: a replay, if the PG stores errors."""
    code, status = answers[0]
    return (
        len(answers) >= 2
        and all(answer == (code, status) for answer in answers)
        and status is not None
        and 400 <= status < 500
        and code not in IN_FLIGHT_CODES
    )


def _error(
    operation: str, exc: pg_errors.GatewayError, error: PgError, *, after_retry: bool = False
) -> PgAnswer:
    return PgAnswer(
        operation,
        error=error,
        code=exc.code or type(exc).__name__,
        message=exc.message[:255],
        after_retry=after_retry,
    )

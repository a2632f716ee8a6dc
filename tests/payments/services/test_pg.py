"""payments/services/pg.py: the PG port answers a PgAnswer, whatever the PG does."""

import pytest
import responses

from config.errors import DomainError
from payments.services.pg import (
    PgError,
    pg_cancel,
    pg_confirm,
    pg_lookup,
    pg_read_webhook,
    pg_require,
)
from tests.payments.services.conftest import (
    CANCEL_URL,
    CONFIRM_URL,
    LOOKUP_URL,
    toss_error,
    toss_payment,
)

pytestmark = pytest.mark.django_db
CONFIRM, LOOKUP = CONFIRM_URL, LOOKUP_URL
payment, error = toss_payment, toss_error


@responses.activate
def test_a_transient_error_is_repeated_with_the_payments_own_key(event):
    responses.post(CONFIRM, status=500, json=error("FAILED_INTERNAL_SYSTEM_PROCESSING"))
    responses.post(CONFIRM, json=payment())

    answer = pg_confirm(event)

    assert (answer.operation, answer.error, answer.record.raw_status) == ("confirm", None, "DONE")
    keys = [call.request.headers["Idempotency-Key"] for call in responses.calls]
    assert keys == ["key-of-this-payment", "key-of-this-payment"]


@responses.activate
def test_retries_stop_at_the_attempt_limit_with_no_answer(event, settings):
    settings.CONFIRM_MAX_ATTEMPTS = 2
    responses.post(CONFIRM, status=500, json=error("PROVIDER_ERROR"))

    answer = pg_confirm(event)

    assert (answer.error, answer.code, answer.message) == (
        PgError.NO_ANSWER,
        "PROVIDER_ERROR",
        "the PG's words",
    )
    assert len(responses.calls) == 2


@responses.activate
def test_already_processed_is_answered_by_the_lookup(event):
    responses.post(CONFIRM, status=400, json=error("ALREADY_PROCESSED_PAYMENT"))
    responses.get(LOOKUP, json=payment("DONE"))

    answer = pg_confirm(event)

    assert (answer.operation, answer.record.raw_status) == ("lookup", "DONE")


@responses.activate
def test_a_decline_after_an_unseen_attempt_says_so(event):
    responses.post(CONFIRM, status=500, json=error("FAILED_INTERNAL_SYSTEM_PROCESSING"))
    responses.post(CONFIRM, status=403, json=error("REJECT_CARD_COMPANY"))

    answer = pg_confirm(event)

    assert (answer.error, answer.code, answer.after_retry) == (
        PgError.DECLINED,
        "REJECT_CARD_COMPANY",
        True,
    )


@responses.activate
def test_a_first_decline_is_not_after_a_retry(event):
    responses.post(CONFIRM, status=403, json=error("REJECT_CARD_COMPANY"))

    assert pg_confirm(event).after_retry is False


@responses.activate
def test_a_lookup_is_asked_once_even_when_the_error_is_transient(event):
    responses.get(LOOKUP, status=500, json=error("COMMON_ERROR"))

    answer = pg_lookup(event)

    assert (answer.error, answer.code) == (PgError.NO_ANSWER, "COMMON_ERROR")
    assert len(responses.calls) == 1


@responses.activate
def test_a_lookup_of_nothing_is_not_found(event):
    responses.get(LOOKUP, status=404, json=error("NOT_FOUND_PAYMENT"))

    assert pg_lookup(event).error == PgError.NOT_FOUND


@responses.activate
def test_a_cancel_made_before_is_already_done(event):
    responses.post(CANCEL_URL, status=400, json=error("ALREADY_CANCELED_PAYMENT"))

    answer = pg_cancel(event, payment_key="pk-1", amount=None, reason="r", idempotency_key="k")

    assert (answer.operation, answer.error) == ("cancel", PgError.ALREADY_DONE)


@responses.activate
def test_keys_the_pg_refuses_are_logged_as_a_configuration_error(event, json_log):
    responses.get(LOOKUP, status=401, json=error("UNAUTHORIZED_KEY"))

    assert pg_lookup(event).error == PgError.NO_ANSWER
    assert any(line["event"] == "pg_configuration_error" for line in json_log())


def test_an_unknown_gateway_is_refused_by_name():
    with pytest.raises(DomainError) as refused:
        pg_require("paypal")
    assert refused.value.code == "UNSUPPORTED_GATEWAY"


@pytest.mark.parametrize(
    ("gateway", "body", "code"),
    [
        ("kakaopay", b"{}", "UNSUPPORTED_GATEWAY"),
        ("paypal", b"{}", "UNSUPPORTED_GATEWAY"),
        ("toss", b"not json", "INVALID_REQUEST"),
        ("toss", b'{"eventType": "PAYMENT_STATUS_CHANGED"}', "INVALID_REQUEST"),
    ],
)
def test_a_webhook_body_is_read_or_refused_with_a_code(gateway, body, code):
    with pytest.raises(DomainError) as refused:
        pg_read_webhook(gateway, body)
    assert refused.value.code == code

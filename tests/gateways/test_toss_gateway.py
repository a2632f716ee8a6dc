"""The Toss gateway's reading of transport failures and error codes."""

import socket

import pytest
import responses

from gateways import errors
from gateways.base import get_gateway
from gateways.errors import ErrorClass
from gateways.toss.gateway import classify
from gateways.types import ConfirmRequest, PgStatus

REQUEST = ConfirmRequest(order_id="ord-123456", payment_key="pk", amount=1000, idempotency_key="k")


@pytest.fixture
def toss(settings):
    def at(base: str):
        gateways = {
            **settings.PAYMENT_GATEWAYS,
            "toss": {
                **settings.PAYMENT_GATEWAYS["toss"],
                "API_BASE": base,
                "READ_TIMEOUT": 0.5,
                "CONNECT_TIMEOUT": 0.5,
            },
        }
        settings.PAYMENT_GATEWAYS = gateways
        return get_gateway("toss")

    return at


def test_a_refused_connection_is_retryable_and_was_never_sent(toss):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with pytest.raises(errors.Retryable) as caught:
        toss(f"http://127.0.0.1:{port}").confirm(REQUEST)

    assert caught.value.sent is False and caught.value.code == "CONNECT_FAILED"


def test_a_silent_server_is_an_unknown_outcome(toss):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        with pytest.raises(errors.OutcomeUnknown) as caught:
            toss(f"http://127.0.0.1:{server.getsockname()[1]}").confirm(REQUEST)
    finally:
        server.close()

    assert caught.value.code == "READ_TIMEOUT" and caught.value.sent is True


@pytest.mark.parametrize(
    "status, code, raised",
    [
        (400, "ALREADY_PROCESSED_PAYMENT", errors.AlreadyProcessed),
        (400, "PROVIDER_ERROR", errors.Retryable),
        (403, "REJECT_CARD_COMPANY", errors.Rejected),
        (404, "NOT_FOUND_PAYMENT_SESSION", errors.Rejected),
        (409, "IDEMPOTENT_REQUEST_PROCESSING", errors.Retryable),
        (500, "FAILED_INTERNAL_SYSTEM_PROCESSING", errors.Retryable),
        (401, "UNAUTHORIZED_KEY", errors.OutcomeUnknown),
        (400, "CARD_PROCESSING_ERROR", errors.OutcomeUnknown),
        (502, "SOMETHING_NEW", errors.Retryable),
        (400, "SOMETHING_NEW", errors.Rejected),
    ],
)
@responses.activate
def test_confirm_errors_are_classified_by_the_table(toss, status, code, raised):
    responses.post(
        "http://toss.test/v1/payments/confirm", status=status, json={"code": code, "message": "m"}
    )

    with pytest.raises(raised) as caught:
        toss("http://toss.test").confirm(REQUEST)

    assert caught.value.code == code and caught.value.http_status == status


@responses.activate
def test_a_lookup_of_nothing_is_payment_not_found(toss):
    responses.get(
        "http://toss.test/v1/payments/orders/ord-123456",
        status=404,
        json={"code": "NOT_FOUND_PAYMENT", "message": "m"},
    )

    with pytest.raises(errors.PaymentNotFound):
        toss("http://toss.test").get_payment_by_order_id("ord-123456")


@responses.activate
def test_the_request_carries_basic_auth_and_the_idempotency_key(toss, settings):
    responses.post(
        "http://toss.test/v1/payments/confirm",
        status=200,
        json={
            "orderId": "ord-123456",
            "paymentKey": "pk",
            "status": "DONE",
            "totalAmount": 1000,
            "balanceAmount": 1000,
            "approvedAt": "2026-11-21T10:00:00+09:00",
            "extraField": {"new": True},
        },
    )

    payment = toss("http://toss.test").confirm(REQUEST)

    sent = responses.calls[0].request
    assert sent.headers["Idempotency-Key"] == "k"
    assert sent.headers["Authorization"].startswith("Basic ")
    assert payment.status == PgStatus.APPROVED and payment.total_amount == 1000


@responses.activate
def test_an_unreadable_200_is_an_unknown_outcome(toss):
    responses.post("http://toss.test/v1/payments/confirm", status=200, json={"status": "DONE"})

    with pytest.raises(errors.OutcomeUnknown):
        toss("http://toss.test").confirm(REQUEST)


def test_operators_can_override_a_classification(settings):
    assert classify("confirm", "CARD_PROCESSING_ERROR", 400) == ErrorClass.UNKNOWN
    settings.PAYMENT_ERROR_OVERRIDES = {"toss:confirm:CARD_PROCESSING_ERROR": "FAIL"}

    assert classify("confirm", "CARD_PROCESSING_ERROR", 400) == ErrorClass.FAIL

"""A decline that follows an attempt with an unseen outcome is checked against the PG."""

import pytest
import responses

from payments.models import PaymentEvent
from payments.services.decisions import Action, decide_after_confirm
from payments.services.pg import pg_confirm
from payments.services.settle import decision_carry_out
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
BASE = "http://toss.test"


@pytest.fixture
def event(settings):
    settings.PAYMENT_GATEWAYS = {
        **settings.PAYMENT_GATEWAYS,
        "toss": {**settings.PAYMENT_GATEWAYS["toss"], "API_BASE": BASE},
    }
    return PaymentEvent.objects.create(
        order_id="ord-verify-1",
        buyer=MemberFactory(),
        gateway="toss",
        order_name="x",
        total_amount=1000,
        payment_key="pk-1",
        status="EXECUTING",
        pg_idempotency_key="k-1",
    )


def confirm_at_pg(event):
    """Steps 4 and 5 of a confirm: ask the PG, decide on its answer (and carry it out)."""
    return decision_carry_out(event=event, decision=decide_after_confirm(event, pg_confirm(event)))


def payment(status: str) -> dict:
    return {
        "orderId": "ord-verify-1",
        "paymentKey": "pk-1",
        "status": status,
        "totalAmount": 1000,
        "balanceAmount": 1000,
        "approvedAt": "2026-11-21T10:00:00+09:00" if status == "DONE" else None,
    }


@responses.activate
def test_a_decline_after_a_5xx_is_looked_up_and_the_approval_wins(event):
    confirm_url = f"{BASE}/v1/payments/confirm"
    responses.post(
        confirm_url, status=500, json={"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "m"}
    )
    responses.post(confirm_url, status=403, json={"code": "REJECT_CARD_COMPANY", "message": "m"})
    responses.get(f"{BASE}/v1/payments/orders/ord-verify-1", json=payment("DONE"))

    decision = confirm_at_pg(event)

    assert decision.action == Action.SUCCESS


@responses.activate
def test_a_first_time_decline_is_final_without_a_lookup(event):
    responses.post(
        f"{BASE}/v1/payments/confirm",
        status=403,
        json={"code": "REJECT_CARD_COMPANY", "message": "m"},
    )

    decision = confirm_at_pg(event)

    assert (decision.action, decision.pg_code) == (Action.FAILURE, "REJECT_CARD_COMPANY")
    assert len(responses.calls) == 1


@responses.activate
def test_a_decline_after_a_5xx_that_the_lookup_cannot_confirm_stays_unknown(event):
    confirm_url = f"{BASE}/v1/payments/confirm"
    responses.post(confirm_url, status=500, json={"code": "COMMON_ERROR", "message": "m"})
    responses.post(confirm_url, status=403, json={"code": "REJECT_CARD_COMPANY", "message": "m"})
    responses.get(
        f"{BASE}/v1/payments/orders/ord-verify-1",
        status=500,
        json={"code": "COMMON_ERROR", "message": "m"},
    )

    assert confirm_at_pg(event).action == Action.BACK_OFF  # recorded UNKNOWN

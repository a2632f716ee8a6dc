"""The Toss sandbox, driven over HTTP as a real process (docs/sandbox.md, Scenarios).

Each test names the scenario it covers (T-1 ... T-28). Virtual accounts (T-27, and the
WAITING_FOR_DEPOSIT half of T-18) are in test_toss_virtual_accounts.py.
"""

import re
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.sandbox import CLIENT_KEY, LIVE_SECRET, OTHER_SECRET, SECRET, basic, start_sandbox

pytestmark = pytest.mark.processes

ISO_KST = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")


def eventually(check, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"]
    return response.status_code, body["code"]


# --- T-1 happy path, formats (T-28) -----------------------------------------------------


def test_t1_window_then_confirm_is_done_with_every_field(toss, receiver):
    toss.webhooks(receiver.url)
    order_id = toss.new_order_id()
    window = toss.http.get(
        f"{toss.base}/toss/window",
        params={
            "clientKey": CLIENT_KEY,
            "orderId": order_id,
            "amount": 15000,
            "orderName": "토스 티셔츠 외 2건",
            "successUrl": "http://shop.test/success",
            "failUrl": "http://shop.test/fail",
        },
    )
    assert window.status_code == 200 and "결제하기" in window.text
    payment_key = re.search(r'name="paymentKey" value="([^"]+)"', window.text).group(1)
    assert toss.record(order_id)["status"] == "READY"

    pay = toss.http.post(
        f"{toss.base}/toss/window/pay",
        data={
            "clientKey": CLIENT_KEY,
            "orderId": order_id,
            "amount": "15000",
            "orderName": "토스 티셔츠 외 2건",
            "successUrl": "http://shop.test/success",
            "failUrl": "http://shop.test/fail",
            "paymentKey": payment_key,
            "choice": "pay",
        },
        allow_redirects=False,
    )
    assert pay.status_code == 302
    redirect = urlsplit(pay.headers["Location"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == "http://shop.test/success"
    assert parse_qs(redirect.query) == {
        "paymentType": ["NORMAL"],
        "orderId": [order_id],
        "paymentKey": [payment_key],
        "amount": ["15000"],
    }
    assert toss.record(order_id)["status"] == "IN_PROGRESS"

    response = toss.confirm(payment_key, order_id, 15000, key=f"confirm-{order_id}")

    assert response.status_code == 200
    payment = response.json()
    assert payment["status"] == "DONE"
    assert (payment["orderId"], payment["paymentKey"]) == (order_id, payment_key)
    assert payment["orderName"] == "토스 티셔츠 외 2건"
    assert payment["totalAmount"] == payment["balanceAmount"] == 15000
    assert (payment["vat"], payment["suppliedAmount"]) == (1364, 13636)
    assert payment["method"] == "카드" and payment["card"]["amount"] == 15000
    assert re.fullmatch(r"[0-9A-F]{32}", payment["lastTransactionKey"])
    assert ISO_KST.match(payment["approvedAt"]) and ISO_KST.match(payment["requestedAt"])
    assert payment["version"] == "2022-11-16" and payment["currency"] == "KRW"
    assert payment["failure"] is None and payment["cancels"] is None
    assert all(isinstance(payment[k], int) for k in ("totalAmount", "balanceAmount", "vat"))
    # Fields that do not apply are present as null (T-28: clients must tolerate them).
    assert {"virtualAccount", "transfer", "mobilePhone", "easyPay"} <= payment.keys()

    events = eventually(lambda: receiver.received, what="the DONE webhook")
    assert events[0]["eventType"] == "PAYMENT_STATUS_CHANGED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", events[0]["createdAt"])
    assert events[0]["data"]["status"] == "DONE"
    assert events[0]["data"]["paymentKey"] == payment_key


@pytest.mark.parametrize(
    "amount, vat, supplied",
    [(15000, 1364, 13636), (9026, 821, 8205), (37400, 3400, 34000), (30000, 2727, 27273)],
)
def test_t1_vat_is_a_half_up_eleventh(toss, amount, vat, supplied):
    order_id = toss.new_order_id()
    payment = toss.confirm(toss.authorize(order_id, amount), order_id, amount).json()

    assert (payment["vat"], payment["suppliedAmount"]) == (vat, supplied)


def test_t28_english_messages_and_labels(toss):
    _order_id, key = toss.paid()

    payment = toss.get(key, headers={"Accept-Language": "en-US"}).json()
    error = toss.get("no-such-key", headers={"Accept-Language": "en-US"}).json()

    assert payment["method"] == "CARD"
    assert error["message"] == "The payment does not exist."


# --- T-2 .. T-7 idempotency and lost responses ------------------------------------------


def test_t2_approved_but_the_response_is_lost(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, dropResponseAfterCommit=True, count=1)

    with pytest.raises(requests.ConnectionError):
        toss.confirm(payment_key, order_id, 15000, key="key-t2")

    # (c) the PG did approve it
    assert toss.get(payment_key).json()["status"] == "DONE"
    assert toss.get_order(order_id).json()["status"] == "DONE"
    # (a) the same key replays the stored 200, byte for byte, every time
    first = toss.confirm(payment_key, order_id, 15000, key="key-t2")
    again = toss.confirm(payment_key, order_id, 15000, key="key-t2")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert first.json()["status"] == "DONE"
    # (b) a new key, or none, is refused as already processed
    assert error_of(toss.confirm(payment_key, order_id, 15000, key="other")) == (
        400,
        "ALREADY_PROCESSED_PAYMENT",
    )
    assert error_of(toss.confirm(payment_key, order_id, 15000)) == (
        400,
        "ALREADY_PROCESSED_PAYMENT",
    )
    assert toss.record(order_id)["sandbox"]["approvals"] == 1


def test_t3_failed_before_commit_then_the_same_key_succeeds(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, failBeforeCommit=True, count=1)

    with pytest.raises(requests.ConnectionError):
        toss.confirm(payment_key, order_id, 15000, key="key-t3")
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"

    retry = toss.confirm(payment_key, order_id, 15000, key="key-t3")
    assert retry.status_code == 200 and retry.json()["status"] == "DONE"


def test_t3_a_5xx_before_commit_is_not_replayed_to_the_retry(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(
        operation="confirm",
        orderId=order_id,
        errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING",
        count=1,
    )

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k")) == (
        500,
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
    )
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"
    assert toss.confirm(payment_key, order_id, 15000, key="k").json()["status"] == "DONE"


def _replay_errors(toss, on: bool) -> None:
    url = f"{toss.base}/sandbox/toss/settings"
    answer = toss.http.put(url, json={"replayErrors": on}, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"replayErrors": on}


def test_t3_a_transient_4xx_is_not_replayed_by_default(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, errorCode="PROVIDER_ERROR", count=1)

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k4")) == (400, "PROVIDER_ERROR")
    assert toss.confirm(payment_key, order_id, 15000, key="k4").json()["status"] == "DONE"


def test_t3_a_toss_that_stores_errors_replays_a_transient_4xx_to_the_same_key(toss):
    # Toss does not say whether it stores an error under its key (docs/pg.md): the
    # sandbox plays both, and the app must be right under both.
    _replay_errors(toss, True)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, errorCode="PROVIDER_ERROR", count=1)

    first = toss.confirm(payment_key, order_id, 15000, key="k5")
    again = toss.confirm(payment_key, order_id, 15000, key="k5")

    assert error_of(first) == error_of(again) == (400, "PROVIDER_ERROR")
    assert first.content == again.content
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"  # nothing happened
    assert toss.confirm(payment_key, order_id, 15000, key="k6").json()["status"] == "DONE"


def test_t3_a_toss_that_stores_errors_still_never_replays_a_5xx(toss):
    _replay_errors(toss, True)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(
        operation="confirm",
        orderId=order_id,
        errorCode="FAILED_INTERNAL_SYSTEM_PROCESSING",
        count=1,
    )

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k7"))[0] == 500
    assert toss.confirm(payment_key, order_id, 15000, key="k7").json()["status"] == "DONE"


def test_t3_a_toss_that_stores_errors_never_stores_still_in_process(toss):
    # 409 is the store's own answer while a request with the key runs, never a stored one.
    _replay_errors(toss, True)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(
        operation="confirm",
        orderId=order_id,
        errorCode="IDEMPOTENT_REQUEST_PROCESSING",
        httpStatus=409,
        count=1,
    )

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k8"))[0] == 409
    assert toss.confirm(payment_key, order_id, 15000, key="k8").json()["status"] == "DONE"


def test_t20_a_toss_that_stores_errors_replays_a_cancels_transient_4xx(toss):
    _replay_errors(toss, True)
    order_id, payment_key = toss.paid(15000)
    toss.fault(operation="cancel", orderId=order_id, errorCode="PROVIDER_ERROR", count=1)
    body = {"cancelReason": "부분", "cancelAmount": 1000}

    assert error_of(toss.cancel(payment_key, body, key="c-1"))[1] == "PROVIDER_ERROR"
    assert error_of(toss.cancel(payment_key, body, key="c-1"))[1] == "PROVIDER_ERROR"
    assert toss.get(payment_key).json()["balanceAmount"] == 15000
    assert toss.cancel(payment_key, body, key="c-2").json()["balanceAmount"] == 14000


def test_the_sandbox_can_start_as_a_toss_that_stores_errors():
    process, base = start_sandbox("--toss-replay-errors")
    try:
        settings = requests.get(f"{base}/sandbox/toss/settings", timeout=5).json()
    finally:
        process.stop()
    assert settings == {"replayErrors": True}


def test_the_replay_setting_is_checked_and_a_reset_restores_it(toss):
    bad = toss.http.put(f"{toss.base}/sandbox/toss/settings", json={"replayErrors": 1}, timeout=5)
    assert bad.status_code == 400
    _replay_errors(toss, True)
    assert toss.http.post(f"{toss.base}/sandbox/reset", timeout=5).ok
    settings = toss.http.get(f"{toss.base}/sandbox/toss/settings", timeout=5).json()
    assert settings == {"replayErrors": False}


def test_t4_replay_returns_the_stored_answer_and_sends_no_second_webhook(toss, receiver):
    toss.webhooks(receiver.url)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)

    first = toss.confirm(payment_key, order_id, 15000, key="key-t4")
    second = toss.confirm(payment_key, order_id, 15000, key="key-t4")

    assert (first.status_code, first.content) == (second.status_code, second.content)
    eventually(lambda: receiver.received, what="the webhook")
    time.sleep(0.3)
    assert len(receiver.received) == 1


def test_t5_a_reused_key_replays_the_first_payment_and_leaves_the_second_alone(toss):
    first_order, second_order = toss.new_order_id(), toss.new_order_id()
    first_key = toss.authorize(first_order, 10000)
    second_key = toss.authorize(second_order, 20000)

    first = toss.confirm(first_key, first_order, 10000, key="shared-key")
    second = toss.confirm(second_key, second_order, 20000, key="shared-key")

    assert second.content == first.content
    assert second.json()["orderId"] == first_order
    assert toss.get(second_key).json()["status"] == "IN_PROGRESS"
    toss.advance(10 * 60)
    assert toss.get(second_key).json()["status"] == "EXPIRED"


def test_t6_a_concurrent_duplicate_gets_409_then_the_stored_result(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, latencyMs=1500, count=1)
    results = {}

    def first_call():
        results["first"] = toss.confirm(payment_key, order_id, 15000, key="key-t6")

    thread = threading.Thread(target=first_call)
    thread.start()
    time.sleep(0.5)
    duplicate = toss.confirm(payment_key, order_id, 15000, key="key-t6")
    thread.join()

    assert error_of(duplicate) == (409, "IDEMPOTENT_REQUEST_PROCESSING")
    assert results["first"].status_code == 200
    later = toss.confirm(payment_key, order_id, 15000, key="key-t6")
    assert later.content == results["first"].content
    assert toss.record(order_id)["sandbox"]["approvals"] == 1


def test_t7_key_rules(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k" * 301)) == (
        400,
        "INVALID_IDEMPOTENCY_KEY",
    )
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"
    done = toss.confirm(payment_key, order_id, 15000, key="k" * 300)
    assert done.status_code == 200
    # GET ignores the header entirely.
    assert toss.get(payment_key, key="k" * 301).status_code == 200
    # Another path (cancel) with the same key is its own entry.
    cancel = toss.cancel(payment_key, {"cancelReason": "test"}, key="k" * 300)
    assert cancel.status_code == 200 and cancel.json()["status"] == "CANCELED"
    # Another merchant's secret key with the same key and path is its own entry too.
    other = toss.confirm(payment_key, order_id, 15000, key="k" * 300, secret=OTHER_SECRET)
    assert error_of(other) == (400, "ALREADY_PROCESSED_PAYMENT")
    # After 15 days the key is forgotten: the confirm runs again (and is refused).
    assert toss.confirm(payment_key, order_id, 15000, key="k" * 300).content == done.content
    toss.advance(15 * 24 * 3600)
    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k" * 300)) == (
        400,
        "ALREADY_PROCESSED_PAYMENT",
    )


# --- T-8 .. T-14 confirm refusals, declines, transient errors, lookups ------------------


def test_t8_a_wrong_amount_is_refused_and_the_payment_stays_open(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)

    assert error_of(toss.confirm(payment_key, order_id, 1500)) == (400, "INVALID_REQUEST")
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"
    assert toss.confirm(payment_key, order_id, 15000).json()["status"] == "DONE"


def test_t9_the_wrong_order_id_for_the_key_is_forbidden(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)

    assert error_of(toss.confirm(payment_key, toss.new_order_id(), 15000)) == (
        403,
        "FORBIDDEN_REQUEST",
    )
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"


def test_t10_confirm_after_ten_minutes_finds_no_session(toss, receiver):
    toss.webhooks(receiver.url)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.advance(9 * 60 + 59)
    assert toss.get(payment_key).json()["status"] == "IN_PROGRESS"
    toss.advance(1)

    assert error_of(toss.confirm(payment_key, order_id, 15000)) == (
        404,
        "NOT_FOUND_PAYMENT_SESSION",
    )
    payment = toss.get(payment_key).json()
    assert payment["status"] == "EXPIRED"
    assert payment["failure"]["code"] == "EXPIRED_PAYMENT"
    assert payment["approvedAt"] is None and payment["method"] is None
    event = eventually(lambda: receiver.received, what="the EXPIRED webhook")[0]
    assert event["data"]["status"] == "EXPIRED"


def test_t10_an_unpaid_window_expires_after_thirty_minutes(toss):
    order_id = toss.new_order_id()
    toss.http.get(
        f"{toss.base}/toss/window",
        params={
            "clientKey": CLIENT_KEY,
            "orderId": order_id,
            "amount": 1000,
            "orderName": "x",
            "successUrl": "http://shop.test/s",
            "failUrl": "http://shop.test/f",
        },
    )
    toss.advance(29 * 60)
    assert toss.get_order(order_id).json()["status"] == "READY"
    toss.advance(60)
    assert toss.get_order(order_id).json()["status"] == "EXPIRED"


def test_t11_an_unknown_payment_key_has_no_session(toss):
    assert error_of(toss.confirm("tsbox-no-such-key", toss.new_order_id(), 1000)) == (
        404,
        "NOT_FOUND_PAYMENT_SESSION",
    )


@pytest.mark.parametrize(
    "code, status",
    [("REJECT_CARD_PAYMENT", 403), ("REJECT_CARD_COMPANY", 403), ("INVALID_STOPPED_CARD", 400)],
)
def test_t12_a_declined_card_aborts_the_payment(toss, receiver, code, status):
    toss.webhooks(receiver.url)
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, errorCode=code)

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k12")) == (status, code)

    payment = toss.get(payment_key).json()
    assert payment["status"] == "ABORTED"
    assert payment["failure"]["code"] == code and payment["failure"]["message"]
    assert eventually(lambda: receiver.received)[0]["data"]["status"] == "ABORTED"
    # The decline is final: its answer is kept under the key, and a new attempt is refused.
    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k12")) == (status, code)
    toss.http.delete(f"{toss.base}/sandbox/faults")
    assert error_of(toss.confirm(payment_key, order_id, 15000)) == (
        400,
        "ALREADY_PROCESSED_PAYMENT",
    )


@pytest.mark.parametrize("committed", [False, True], ids=["not-approved", "actually-approved"])
@pytest.mark.parametrize(
    "code, status",
    [
        ("PROVIDER_ERROR", 400),
        ("FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", 500),
        ("FAILED_INTERNAL_SYSTEM_PROCESSING", 500),
        ("UNKNOWN_PAYMENT_ERROR", 500),
        ("COMMON_ERROR", 500),
    ],
)
def test_t13_transient_errors_hide_either_outcome(toss, code, status, committed):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, errorCode=code, commit=committed, count=1)

    assert error_of(toss.confirm(payment_key, order_id, 15000, key="k13")) == (status, code)

    truth = toss.get(payment_key).json()["status"]
    assert truth == ("DONE" if committed else "IN_PROGRESS")
    # Either way the same key now gets the truth: approved once, never twice.
    assert toss.confirm(payment_key, order_id, 15000, key="k13").json()["status"] == "DONE"
    assert toss.record(order_id)["sandbox"]["approvals"] == 1


def test_t14_lookups_of_unknown_payments_and_a_brief_404(toss):
    assert error_of(toss.get("tsbox-unknown")) == (404, "NOT_FOUND_PAYMENT")
    assert error_of(toss.get_order("order-unknown-1")) == (404, "NOT_FOUND_PAYMENT")

    order_id, _payment_key = toss.paid()
    toss.fault(operation="lookup", orderId=order_id, errorCode="NOT_FOUND_PAYMENT", count=1)

    assert error_of(toss.get_order(order_id)) == (404, "NOT_FOUND_PAYMENT")
    assert toss.get_order(order_id).json()["status"] == "DONE"


# --- T-15 .. T-21 cancels ---------------------------------------------------------------


def test_t15_full_cancel(toss, receiver):
    toss.webhooks(receiver.url)
    _order_id, payment_key = toss.paid(15000)

    payment = toss.cancel(payment_key, {"cancelReason": "고객 변심"}).json()

    assert payment["status"] == "CANCELED"
    assert payment["balanceAmount"] == payment["vat"] == payment["suppliedAmount"] == 0
    assert payment["totalAmount"] == 15000
    (entry,) = payment["cancels"]
    assert entry["cancelAmount"] == 15000 and entry["refundableAmount"] == 0
    assert entry["cancelStatus"] == "DONE" and entry["cancelReason"] == "고객 변심"
    assert ISO_KST.match(entry["canceledAt"])
    assert payment["lastTransactionKey"] == entry["transactionKey"]
    eventually(lambda: [e for e in receiver.received if e["data"]["status"] == "CANCELED"])
    assert error_of(toss.cancel(payment_key, {"cancelReason": "again"})) == (
        400,
        "ALREADY_CANCELED_PAYMENT",
    )


def test_t16_partial_cancels_until_nothing_is_left(toss):
    _order_id, payment_key = toss.paid(15000)

    first = toss.cancel(payment_key, {"cancelReason": "부분", "cancelAmount": 5000}).json()
    assert first["status"] == "PARTIAL_CANCELED"
    assert (first["balanceAmount"], first["vat"], first["suppliedAmount"]) == (10000, 909, 9091)
    second = toss.cancel(payment_key, {"cancelReason": "나머지", "cancelAmount": 10000}).json()

    assert second["status"] == "CANCELED" and second["balanceAmount"] == 0
    assert [c["cancelAmount"] for c in second["cancels"]] == [5000, 10000]
    assert [c["refundableAmount"] for c in second["cancels"]] == [10000, 0]
    assert second["lastTransactionKey"] == second["cancels"][1]["transactionKey"]


def test_t17_a_partial_cancel_beyond_the_balance_is_refused(toss):
    _order_id, payment_key = toss.paid(15000)

    assert error_of(toss.cancel(payment_key, {"cancelReason": "x", "cancelAmount": 15001})) == (
        403,
        "NOT_CANCELABLE_AMOUNT",
    )
    assert toss.get(payment_key).json()["status"] == "DONE"


def test_t18_a_payment_without_partial_cancels(toss):
    _order_id, payment_key = toss.paid(15000, partialCancelable=False)

    assert error_of(toss.cancel(payment_key, {"cancelReason": "x", "cancelAmount": 100})) == (
        403,
        "NOT_ALLOWED_PARTIAL_REFUND",
    )
    assert toss.cancel(payment_key, {"cancelReason": "x"}).json()["status"] == "CANCELED"


def test_t19_a_stale_refundable_amount_is_refused(toss):
    _order_id, payment_key = toss.paid(15000)
    toss.cancel(payment_key, {"cancelReason": "x", "cancelAmount": 1000})

    stale = toss.cancel(
        payment_key, {"cancelReason": "x", "cancelAmount": 1000, "refundableAmount": 15000}
    )
    fresh = toss.cancel(
        payment_key, {"cancelReason": "x", "cancelAmount": 1000, "refundableAmount": 14000}
    )

    assert error_of(stale) == (400, "NOT_MATCHES_REFUNDABLE_AMOUNT")
    assert fresh.json()["balanceAmount"] == 13000


def test_t20_a_retried_cancel_with_a_key_refunds_once_without_a_key_twice(toss):
    order_id, payment_key = toss.paid(15000)
    toss.fault(operation="cancel", orderId=order_id, dropResponseAfterCommit=True, count=1)
    body = {"cancelReason": "부분", "cancelAmount": 1000}

    with pytest.raises(requests.ConnectionError):
        toss.cancel(payment_key, body, key="cancel-1")
    replay = toss.cancel(payment_key, body, key="cancel-1").json()
    assert len(replay["cancels"]) == 1 and replay["balanceAmount"] == 14000

    # Without a key the sandbox does not de-duplicate: the second cancel really happens.
    assert toss.cancel(payment_key, body).json()["balanceAmount"] == 13000
    assert toss.cancel(payment_key, body).json()["balanceAmount"] == 12000


def test_t21_only_approved_payments_can_be_cancelled(toss):
    open_order = toss.new_order_id()
    open_key = toss.authorize(open_order, 1000)
    aborted_order = toss.new_order_id()
    aborted_key = toss.authorize(aborted_order, 1000)
    toss.fault(operation="confirm", orderId=aborted_order, errorCode="REJECT_CARD_COMPANY")
    toss.confirm(aborted_key, aborted_order, 1000)
    expired_order = toss.new_order_id()
    expired_key = toss.authorize(expired_order, 1000)
    toss.advance(600)

    for key in (aborted_key, expired_key):
        assert error_of(toss.cancel(key, {"cancelReason": "x"})) == (403, "NOT_CANCELABLE_PAYMENT")
    assert error_of(toss.cancel("tsbox-unknown", {"cancelReason": "x"})) == (
        404,
        "NOT_FOUND_PAYMENT",
    )
    # open_key expired with the clock move too: nothing unapproved is cancelable.
    assert error_of(toss.cancel(open_key, {"cancelReason": "x"})) == (403, "NOT_CANCELABLE_PAYMENT")


def test_t21_an_in_progress_payment_cannot_be_cancelled(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 1000)

    assert error_of(toss.cancel(payment_key, {"cancelReason": "x"})) == (
        403,
        "NOT_CANCELABLE_PAYMENT",
    )


# --- T-22 .. T-24 auth, test codes, rate limits -----------------------------------------


@pytest.mark.parametrize(
    "authorization, expected",
    [
        (None, (401, "UNAUTHORIZED_KEY")),
        (basic("test_sk_wrong_key"), (401, "UNAUTHORIZED_KEY")),
        (basic(SECRET, colon=False), (403, "INCORRECT_BASIC_AUTH_FORMAT")),
        ("Basic %%%not-base64%%%", (401, "UNAUTHORIZED_KEY")),
        (f"Bearer {SECRET}", (401, "UNAUTHORIZED_KEY")),
        ("Basic " + "77u/" + basic(SECRET)[6:], (401, "UNAUTHORIZED_KEY")),
    ],
    ids=["missing", "wrong-key", "no-colon", "not-base64", "bearer", "bom"],
)
def test_t22_authentication(toss, authorization, expected):
    headers = {"Authorization": authorization} if authorization else {}
    response = toss.http.get(f"{toss.base}/toss/v1/payments/anything", headers=headers)

    assert error_of(response) == expected


def test_t23_test_codes_answer_before_anything_else(toss):
    dummy = {"TossPayments-Test-Code": "REJECT_CARD_COMPANY"}

    assert error_of(toss.confirm("dummy", "order-dummy", 1, headers=dummy)) == (
        403,
        "REJECT_CARD_COMPANY",
    )
    assert error_of(toss.get("dummy", headers={"TossPayments-Test-Code": "NOT_A_CODE"})) == (
        400,
        "INVALID_TEST_CODE",
    )
    # A live key ignores the header: the request is handled for real.
    live = toss.get("dummy", headers=dummy, secret=LIVE_SECRET)
    assert error_of(live) == (404, "NOT_FOUND_PAYMENT")


def test_t24_rapid_repeats_can_be_refused(toss):
    order_id, payment_key = toss.paid()
    toss.fault(
        operation="lookup", orderId=order_id, errorCode="FORBIDDEN_CONSECUTIVE_REQUEST", count=2
    )

    assert error_of(toss.get(payment_key)) == (403, "FORBIDDEN_CONSECUTIVE_REQUEST")
    assert error_of(toss.get_order(order_id)) == (403, "FORBIDDEN_CONSECUTIVE_REQUEST")
    assert toss.get(payment_key).status_code == 200


# --- T-25 webhooks ----------------------------------------------------------------------


def test_t25_a_failed_webhook_is_resent_on_the_retry_schedule(toss, receiver):
    toss.webhooks(receiver.url)
    receiver.statuses = [500, 503]
    order_id, _ = toss.paid()

    def attempts() -> int:
        # The sandbox's own count: it schedules the retry once it has read the answer,
        # which is a moment after the receiver saw the request.
        return len(toss.deliveries(order_id)[0]["attempts"])

    eventually(lambda: attempts() == 1, what="the first attempt")
    time.sleep(0.3)
    assert len(receiver.received) == 1  # nothing more until a minute passes
    toss.advance(60)
    eventually(lambda: attempts() == 2, what="the retry after 1 minute")
    toss.advance(3 * 60)
    time.sleep(0.3)
    assert len(receiver.received) == 2  # the next retry is 4 minutes after the last
    toss.advance(60)
    eventually(lambda: attempts() == 3, what="the retry after 4 more minutes")
    (delivery,) = eventually(
        lambda: [d for d in toss.deliveries(order_id) if d["state"] == "delivered"],
        what="the delivery to be recorded as delivered",
    )
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]


def test_t25_a_webhook_that_keeps_failing_stops_after_seven_retries(toss, receiver):
    toss.webhooks(receiver.url)
    receiver.statuses = [500] * 20
    order_id, _ = toss.paid()

    for attempt, minutes in enumerate((0, 1, 4, 16, 64, 256, 1024, 4096), start=1):
        toss.advance(minutes * 60)
        eventually(
            lambda n=attempt: len(toss.deliveries(order_id)[0]["attempts"]) == n,
            what=f"attempt {attempt} (+{minutes} min)",
        )
    eventually(lambda: toss.deliveries(order_id)[0]["state"] == "failed", what="giving up")

    assert len(toss.deliveries(order_id)[0]["attempts"]) == 8


def test_t25_duplicate_delivery_mode(toss, receiver):
    toss.webhooks(receiver.url, mode="duplicate")
    toss.paid()

    eventually(lambda: len(receiver.received) == 2, what="two deliveries")
    assert receiver.received[0] == receiver.received[1]


def test_t25_reversed_order_mode(toss, receiver):
    toss.webhooks(receiver.url, mode="reverse", delayMs=2000)  # margin for a loaded CI box
    _order_id, payment_key = toss.paid()
    toss.cancel(payment_key, {"cancelReason": "x"})

    eventually(lambda: len(receiver.received) == 2, what="both events")
    assert [e["data"]["status"] for e in receiver.received] == ["CANCELED", "DONE"]


# --- T-26 buyer-side failures -----------------------------------------------------------


@pytest.mark.parametrize(
    "choice, code", [("cancel", "PAY_PROCESS_CANCELED"), ("decline", "REJECT_CARD_COMPANY")]
)
def test_t26_the_window_sends_failures_to_fail_url_without_a_payment_key(toss, choice, code):
    order_id = toss.new_order_id()
    params = {
        "clientKey": CLIENT_KEY,
        "orderId": order_id,
        "amount": "5000",
        "orderName": "x",
        "successUrl": "http://shop.test/s",
        "failUrl": "http://shop.test/f?shop=1",
    }
    page = toss.http.get(f"{toss.base}/toss/window", params=params).text
    payment_key = re.search(r'name="paymentKey" value="([^"]+)"', page).group(1)

    response = toss.http.post(
        f"{toss.base}/toss/window/pay",
        data={**params, "paymentKey": payment_key, "choice": choice},
        allow_redirects=False,
    )

    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/f"
    assert query["code"] == [code] and query["orderId"] == [order_id] and query["message"][0]
    assert query["shop"] == ["1"] and "paymentKey" not in query
    assert toss.record(order_id)["status"] == "READY"


def test_the_window_refuses_bad_parameters_with_a_page(toss):
    bad = toss.http.get(
        f"{toss.base}/toss/window",
        params={
            "clientKey": "test_ck_wrong",
            "orderId": "order-123456",
            "amount": "1000",
            "orderName": "x",
            "successUrl": "http://s.test",
            "failUrl": "http://f.test",
        },
    )
    missing = toss.http.get(f"{toss.base}/toss/window", params={"orderId": "x"})

    assert bad.status_code == missing.status_code == 400
    assert "text/html" in bad.headers["Content-Type"]


# --- timeouts, malformed input, settlements, control API --------------------------------


@pytest.mark.parametrize("committed", [False, True], ids=["held-only", "approved-then-held"])
def test_a_timeout_holds_until_the_client_gives_up(toss, committed):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 15000)
    toss.fault(operation="confirm", orderId=order_id, timeout=True, commit=committed, count=1)

    with pytest.raises(requests.Timeout):
        toss.confirm(payment_key, order_id, 15000, key="kt", timeout=1.0)

    assert toss.get(payment_key).json()["status"] == ("DONE" if committed else "IN_PROGRESS")
    # The held request ends soon after the client hangs up: no thread or slot kept for 300 s.
    held = eventually(
        lambda: [r for r in toss.requests_for(order_id, "confirm") if r.get("outcome") == "held"],
        what="the held request to end",
    )
    assert held[0]["ms"] < 10_000
    assert toss.confirm(payment_key, order_id, 15000, key="kt").json()["status"] == "DONE"


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b"null",
        b'"x"',
        b"[" * 50_000,
        b'{"paymentKey": 1, "orderId": "order-1", "amount": 1}',
        b'{"orderId": "order-123456", "amount": 1000}',
        b'{"paymentKey": "k", "orderId": "order-123456", "amount": "1000"}',
        b'{"paymentKey": "k", "orderId": "order-123456", "amount": 0}',
        b'{"paymentKey": "k", "orderId": "order-123456", "amount": true}',
        b'{"paymentKey": "k", "orderId": "order-123456", "amount": 10.5}',
        b"\xff\xfe",
    ],
)
def test_malformed_confirm_bodies_get_toss_errors(toss, raw):
    response = toss.call(
        "POST", "/v1/payments/confirm", data=raw, headers={"Content-Type": "application/json"}
    )

    assert error_of(response) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize("order_id", ["short", "x" * 65, "order id with spaces", "주문번호-123456"])
def test_a_bad_order_id_is_refused(toss, order_id):
    assert error_of(toss.confirm("k", order_id, 1000)) == (400, "INVALID_ORDER_ID")


def test_cancel_needs_a_reason(toss):
    _order_id, payment_key = toss.paid()

    for body in (
        {},
        {"cancelReason": ""},
        {"cancelReason": "x" * 201},
        {"cancelReason": "x", "cancelAmount": -1},
    ):
        assert error_of(toss.cancel(payment_key, body)) == (400, "INVALID_REQUEST")


def test_a_huge_body_and_unknown_routes_get_toss_errors(toss):
    huge = toss.call(
        "POST",
        "/v1/payments/confirm",
        data=b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    unknown = toss.call("GET", "/v2/nothing")

    assert error_of(huge) == (413, "INVALID_REQUEST")
    assert error_of(unknown) == (404, "NOT_FOUND")


def test_settlements_list_approvals_and_cancels(toss):
    order_id, payment_key = toss.paid(10000)
    toss.cancel(payment_key, {"cancelReason": "부분", "cancelAmount": 4000})
    today = toss.get(payment_key).json()["approvedAt"][:10]

    lines = toss.call(
        "GET", "/v1/settlements", params={"startDate": today, "endDate": today}
    ).json()

    mine = [line for line in lines if line["orderId"] == order_id]
    assert [line["amount"] for line in mine] == [10000, -4000] or [
        line["amount"] for line in mine
    ] == [-4000, 10000]
    approve = next(line for line in mine if line["amount"] > 0)
    assert approve["payOutAmount"] == 10000 - approve["fees"][0]["fee"]
    assert approve["soldDate"] == today
    assert error_of(toss.call("GET", "/v1/settlements", params={"endDate": today})) == (
        400,
        "INVALID_REQUEST",
    )
    assert error_of(
        toss.call(
            "GET",
            "/v1/settlements",
            params={"startDate": today, "endDate": today, "dateType": "nope"},
        )
    ) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "spec",
    [
        {"operation": "confirm"} | {"gateway": "paypal"},
        {"operation": "refund"},
        {"operation": "confirm", "rate": 2},
        {"operation": "confirm", "latencyMs": [500, 100]},
        {"operation": "confirm", "latencyMs": "fast"},
        {"operation": "confirm", "timeout": True, "failBeforeCommit": True},
        {"operation": "confirm", "commit": True},
        {"operation": "confirm", "httpStatus": 500},
        {"operation": "confirm", "bogus": 1},
        {"operation": "confirm", "count": True},
    ],
)
def test_bad_fault_specs_are_refused(toss, spec):
    response = toss.http.put(f"{toss.base}/sandbox/faults", json={"gateway": "toss", **spec})

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert toss.http.get(f"{toss.base}/sandbox/faults").json()["rules"] == []


def test_a_latency_range_is_applied_and_counted(toss):
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, 1000)
    rule = toss.fault(operation="confirm", orderId=order_id, latencyMs=[300, 400])

    started = time.monotonic()
    assert toss.confirm(payment_key, order_id, 1000).status_code == 200
    elapsed = time.monotonic() - started

    assert elapsed >= 0.3
    listed = toss.http.get(f"{toss.base}/sandbox/faults").json()["rules"]
    assert [r["hits"] for r in listed if r["id"] == rule["id"]] == [1]


def test_log_lines_carry_the_order_id_and_never_the_secret_key(toss):
    order_id, payment_key = toss.paid()
    toss.get(payment_key)

    def logged():
        output = toss.process.output()
        return output if order_id in output else None

    output = eventually(logged, what="the log lines")
    assert SECRET not in output
    assert basic(SECRET)[6:] not in output  # nor its base64 form
    assert "Authorization" not in output

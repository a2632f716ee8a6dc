"""Toss virtual accounts (가상계좌) in the sandbox, driven over HTTP as a real process
(docs/sandbox.md, Toss virtual accounts): scenario T-27 and the waiting-for-deposit half
of T-18, the deposit and its reversal, expiry both ways, late deposits, refunds to a
refund account, the reconciliation records of a deposit, and what the request log keeps.
"""

import re
import time
from datetime import datetime, timedelta

import pytest
import requests

from tests.sandbox import CLIENT_KEY, TossSandbox, start_sandbox

pytestmark = pytest.mark.processes

ISO_KST = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")
VIRTUAL_ACCOUNT_FIELDS = {
    "accountType",
    "accountNumber",
    "bankCode",
    "customerName",
    "depositorName",
    "dueDate",
    "refundStatus",
    "expired",
    "settlementStatus",
    "refundReceiveAccount",
}
REFUND_ACCOUNT = {"bank": "88", "accountNumber": "11012345678901", "holderName": "김토스"}
TUESDAY = 1


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
    assert set(body) == {"code", "message"} and body["message"], body
    return response.status_code, body["code"]


def clock_now(toss: TossSandbox) -> datetime:
    now = toss.http.get(f"{toss.base}/sandbox/clock", timeout=5).json()["now"]
    return datetime.fromisoformat(now)


def move_to(toss: TossSandbox, weekday: int, hour: int = 12) -> datetime:
    """Move the sandbox clock forward to the next `weekday` at `hour`:00 KST."""
    now = clock_now(toss)
    target = (now + timedelta(days=(weekday - now.weekday()) % 7)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    if target <= now:
        target += timedelta(days=7)
    toss.advance((target - now).total_seconds())
    return target


def issued(toss: TossSandbox, amount: int = 15000, **extra) -> tuple[str, str, dict]:
    """A confirmed virtual-account payment: (orderId, paymentKey, the confirm's answer)."""
    order_id = toss.new_order_id()
    payment_key = toss.authorize(order_id, amount, method="VIRTUAL_ACCOUNT", **extra)
    response = toss.confirm(payment_key, order_id, amount)
    assert response.status_code == 200, response.text
    return order_id, payment_key, response.json()


def deposit(toss: TossSandbox, order_id: str, **extra) -> requests.Response:
    return toss.http.post(
        f"{toss.base}/sandbox/toss/deposit", json={"orderId": order_id, **extra}, timeout=5
    )


def reverse(toss: TossSandbox, order_id: str) -> requests.Response:
    return toss.http.post(
        f"{toss.base}/sandbox/toss/deposit-reversal", json={"orderId": order_id}, timeout=5
    )


def va_settings(toss: TossSandbox, **changes) -> dict:
    url = f"{toss.base}/sandbox/toss/settings/virtual-accounts"
    response = toss.http.put(url, json=changes, timeout=5) if changes else toss.http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def events_of(receiver, order_id: str) -> list[dict]:
    return [
        e
        for e in receiver.received
        if e.get("orderId") == order_id or (e.get("data") or {}).get("orderId") == order_id
    ]


def day_transactions(toss: TossSandbox, day) -> list[dict]:
    response = toss.call(
        "GET",
        "/v1/transactions",
        params={"startDate": f"{day}T00:00:00+09:00", "endDate": f"{day}T23:59:59+09:00"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- T-27: issue ------------------------------------------------------------------------


def test_t27_confirm_issues_a_virtual_account_waiting_for_deposit(toss, receiver):
    toss.webhooks(receiver.url)
    before = clock_now(toss)
    order_id, payment_key, payment = issued(toss, 15000, customerName="김토스")

    assert payment["status"] == "WAITING_FOR_DEPOSIT"
    assert payment["method"] == "가상계좌"
    assert payment["approvedAt"] is None and payment["card"] is None
    assert payment["totalAmount"] == payment["balanceAmount"] == 15000
    account = payment["virtualAccount"]
    assert set(account) == VIRTUAL_ACCOUNT_FIELDS
    assert account["accountType"] == "일반"
    assert re.fullmatch(r"X\d{6,}", account["accountNumber"])  # test accounts start with X
    assert (account["bankCode"], account["customerName"]) == ("20", "김토스")
    assert (account["refundStatus"], account["expired"]) == ("NONE", False)
    assert account["settlementStatus"] == "INCOMPLETED"
    assert account["refundReceiveAccount"] is None and account["depositorName"] is None
    assert ISO_KST.match(account["dueDate"])
    due = datetime.fromisoformat(account["dueDate"])
    assert timedelta(hours=72, seconds=-1) <= due - before <= timedelta(hours=72, seconds=10)
    secret = payment["secret"]
    assert isinstance(secret, str) and 20 <= len(secret) <= 50

    # lookups by key and by orderId, and the sandbox's record, show the same, secret too
    for shown in (toss.get(payment_key).json(), toss.get_order(order_id).json()):
        assert shown["status"] == "WAITING_FOR_DEPOSIT"
        assert shown["virtualAccount"] == account and shown["secret"] == secret
    record = toss.record(order_id)
    assert record["virtualAccount"] == account and record["secret"] == secret
    english = toss.get(payment_key, headers={"Accept-Language": "en-US"}).json()
    assert english["method"] == "VIRTUAL_ACCOUNT"
    # a second confirm is refused; the account stays as it was
    assert error_of(toss.confirm(payment_key, order_id, 15000)) == (
        400,
        "ALREADY_PROCESSED_PAYMENT",
    )
    assert toss.get(payment_key).json()["secret"] == secret
    event = eventually(lambda: events_of(receiver, order_id), what="the webhook")[0]
    assert event["eventType"] == "PAYMENT_STATUS_CHANGED"
    assert event["data"]["status"] == "WAITING_FOR_DEPOSIT"
    assert event["data"]["secret"] == secret


def test_t27_the_window_offers_a_virtual_account(toss):
    order_id = toss.new_order_id()
    params = {
        "clientKey": CLIENT_KEY,
        "orderId": order_id,
        "amount": "8000",
        "orderName": "가상계좌 주문",
        "successUrl": "http://shop.test/success",
        "failUrl": "http://shop.test/fail",
    }
    window = toss.http.get(f"{toss.base}/toss/window", params={**params, "validHours": "24"})
    assert window.status_code == 200 and "가상계좌" in window.text
    payment_key = re.search(r'name="paymentKey" value="([^"]+)"', window.text).group(1)
    assert 'name="validHours" value="24"' in window.text

    pay = toss.http.post(
        f"{toss.base}/toss/window/pay",
        data={
            **params,
            "validHours": "24",
            "paymentKey": payment_key,
            "bank": "88",
            "choice": "virtual_account",
        },
        allow_redirects=False,
    )

    assert pay.status_code == 302
    assert pay.headers["Location"].startswith("http://shop.test/success?paymentType=NORMAL")
    assert toss.record(order_id)["status"] == "IN_PROGRESS"
    before = clock_now(toss)
    payment = toss.confirm(payment_key, order_id, 8000).json()
    assert payment["status"] == "WAITING_FOR_DEPOSIT"
    assert payment["virtualAccount"]["bankCode"] == "88"
    due = datetime.fromisoformat(payment["virtualAccount"]["dueDate"])
    assert timedelta(hours=24, seconds=-1) <= due - before <= timedelta(hours=24, seconds=10)


def test_the_authorize_shortcut_checks_its_virtual_account_fields(toss):
    url = f"{toss.base}/sandbox/toss/authorize"
    base = {"orderId": toss.new_order_id(), "amount": 1000}
    for extra in (
        {"method": "BANK"},
        {"method": "VIRTUAL_ACCOUNT", "bank": "99"},
        {"method": "VIRTUAL_ACCOUNT", "validHours": 721},
        {"method": "VIRTUAL_ACCOUNT", "customerName": ""},
        {"bank": "20"},  # without method VIRTUAL_ACCOUNT
    ):
        response = toss.http.post(url, json={**base, **extra}, timeout=5)
        assert response.status_code == 400, extra
        assert response.json()["code"] == "INVALID_REQUEST"
    # the card path is unchanged
    _order_id, payment_key = toss.paid(1000)
    payment = toss.get(payment_key).json()
    assert (payment["method"], payment["virtualAccount"], payment["secret"]) == ("카드", None, None)


# --- T-27: deposit ----------------------------------------------------------------------


def test_t27_a_deposit_makes_it_done_and_sends_both_webhooks(toss, receiver):
    toss.webhooks(receiver.url)
    order_id, payment_key, issued_payment = issued(toss, 15000)

    response = deposit(toss, order_id, depositorName="김입금")

    assert response.status_code == 200, response.text
    record = response.json()
    assert record["status"] == "DONE" and ISO_KST.match(record["approvedAt"])
    assert record["sandbox"]["approvals"] == 1 and len(record["sandbox"]["deposits"]) == 1
    payment = toss.get(payment_key).json()
    assert payment["status"] == "DONE" and payment["approvedAt"] == record["approvedAt"]
    account = payment["virtualAccount"]
    assert account["settlementStatus"] == "COMPLETED" and account["depositorName"] == "김입금"
    assert account["accountNumber"] == issued_payment["virtualAccount"]["accountNumber"]
    assert payment["secret"] == issued_payment["secret"]
    assert re.fullmatch(r"[0-9A-F]{32}", payment["lastTransactionKey"])

    def both():
        got = events_of(receiver, order_id)
        return got if len(got) == 3 else None

    events = eventually(both, what="WAITING_FOR_DEPOSIT, DONE and DEPOSIT_CALLBACK")
    changed = [e for e in events if e.get("eventType") == "PAYMENT_STATUS_CHANGED"]
    assert [e["data"]["status"] for e in changed] == ["WAITING_FOR_DEPOSIT", "DONE"]
    assert changed[1]["data"]["approvedAt"] == payment["approvedAt"]
    callback = next(e for e in events if "eventType" not in e)
    assert set(callback) == {"createdAt", "secret", "status", "transactionKey", "orderId"}
    assert callback["secret"] == payment["secret"]
    assert callback["status"] == "DONE" and callback["orderId"] == order_id
    assert callback["transactionKey"] == payment["lastTransactionKey"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", callback["createdAt"])
    kinds = sorted(d["event"] for d in toss.deliveries(order_id))
    assert kinds == ["DEPOSIT_CALLBACK:DONE", "DONE", "WAITING_FOR_DEPOSIT"]


def test_a_deposit_callback_can_carry_an_event_type(toss, receiver):
    assert va_settings(toss, depositCallbackEventType=True)["depositCallbackEventType"] is True
    toss.webhooks(receiver.url)
    order_id, _key, _payment = issued(toss, 5000)

    assert deposit(toss, order_id).status_code == 200

    events = eventually(
        lambda: [e for e in events_of(receiver, order_id) if "secret" in e and "data" not in e],
        what="DEPOSIT_CALLBACK",
    )
    assert events[0]["eventType"] == "DEPOSIT_CALLBACK"


def test_deposit_refusals(toss):
    assert error_of(deposit(toss, "order-unknown-1")) == (404, "NOT_FOUND")
    card_order, _key = toss.paid(1000)
    assert error_of(deposit(toss, card_order)) == (409, "NOT_A_VIRTUAL_ACCOUNT")
    unconfirmed = toss.new_order_id()
    toss.authorize(unconfirmed, 1000, method="VIRTUAL_ACCOUNT")  # not confirmed: no account
    assert error_of(deposit(toss, unconfirmed)) == (409, "NOT_WAITING_FOR_DEPOSIT")
    order_id, _key, _payment = issued(toss, 1000)
    assert deposit(toss, order_id).status_code == 200
    assert error_of(deposit(toss, order_id)) == (409, "NOT_WAITING_FOR_DEPOSIT")
    assert toss.record(order_id)["sandbox"]["approvals"] == 1
    for body in ({}, {"orderId": order_id, "late": "yes"}, {"orderId": order_id, "x": 1}):
        response = toss.http.post(f"{toss.base}/sandbox/toss/deposit", json=body, timeout=5)
        assert error_of(response) == (400, "INVALID_REQUEST"), body


# --- expiry (UNCONFIRMED outcome: both) and late deposits ---------------------------------


@pytest.mark.parametrize("outcome", ["EXPIRED", "CANCELED"])
def test_an_account_past_its_due_date_expires_as_the_setting_says(toss, receiver, outcome):
    if outcome == "CANCELED":
        assert va_settings(toss, expiry="CANCELED")["expiry"] == "CANCELED"
    toss.webhooks(receiver.url)
    order_id, payment_key, _payment = issued(toss, 12000)

    toss.advance(72 * 3600 - 60)
    assert toss.get(payment_key).json()["status"] == "WAITING_FOR_DEPOSIT"
    toss.advance(61)

    payment = toss.get_order(order_id).json()
    assert payment["status"] == outcome
    assert payment["virtualAccount"]["expired"] is True
    assert payment["method"] == "가상계좌" and payment["approvedAt"] is None
    assert payment["balanceAmount"] == (12000 if outcome == "EXPIRED" else 0)
    assert payment["cancels"] is None  # no money moved
    eventually(
        lambda: [e for e in events_of(receiver, order_id) if e["data"]["status"] == outcome],
        what=f"the {outcome} webhook",
    )
    # the buyer's transfer after the due date is refused ...
    assert error_of(deposit(toss, order_id)) == (409, "VIRTUAL_ACCOUNT_EXPIRED")
    assert day_transactions(toss, clock_now(toss).date()) == []
    # ... unless it lands anyway: a false failure the shop must refund
    landed = deposit(toss, order_id, late=True)
    assert landed.status_code == 200, landed.text
    assert landed.json()["sandbox"]["deposits"][0]["late"] is True
    payment = toss.get(payment_key).json()
    assert payment["status"] == "DONE" and payment["balanceAmount"] == 12000
    assert payment["virtualAccount"]["expired"] is True
    assert [t["status"] for t in day_transactions(toss, clock_now(toss).date())] == ["DONE"]
    assert error_of(deposit(toss, order_id, late=True)) == (409, "NOT_WAITING_FOR_DEPOSIT")

    refund = toss.cancel(
        payment_key, {"cancelReason": "기한 후 입금", "refundReceiveAccount": REFUND_ACCOUNT}
    )
    assert refund.status_code == 200, refund.text
    assert refund.json()["status"] == "CANCELED"


def test_the_due_date_follows_the_valid_hours_setting_and_a_reset_restores_it(toss):
    assert va_settings(toss) == {
        "validHours": 72,
        "expiry": "EXPIRED",
        "depositCallbackEventType": False,
    }
    assert va_settings(toss, validHours=2)["validHours"] == 2
    _order_id, payment_key, _payment = issued(toss, 3000)
    toss.advance(2 * 3600)
    assert toss.get(payment_key).json()["status"] == "EXPIRED"
    # a payment's own validHours wins over the setting
    _order, key, _payment = issued(toss, 3000, validHours=5)
    toss.advance(2 * 3600)
    assert toss.get(key).json()["status"] == "WAITING_FOR_DEPOSIT"

    url = f"{toss.base}/sandbox/toss/settings/virtual-accounts"
    for bad in ({"expiry": "ABORTED"}, {"validHours": 0}, {"validHours": True}, {"x": 1}):
        assert error_of(toss.http.put(url, json=bad, timeout=5)) == (400, "INVALID_REQUEST")
    assert toss.http.post(f"{toss.base}/sandbox/reset", timeout=5).ok
    assert va_settings(toss)["validHours"] == 72


# --- T-27: the DONE -> WAITING_FOR_DEPOSIT reversal --------------------------------------


def test_t27_a_deposit_can_be_reversed(toss, receiver):
    toss.webhooks(receiver.url)
    order_id, payment_key, _payment = issued(toss, 9000)
    assert error_of(reverse(toss, order_id)) == (409, "NOT_DEPOSITED")
    assert deposit(toss, order_id).status_code == 200
    deposit_key = toss.get(payment_key).json()["lastTransactionKey"]
    toss.advance(60)  # rows of one second are ordered by key: keep them apart

    response = reverse(toss, order_id)

    assert response.status_code == 200, response.text
    payment = toss.get(payment_key).json()
    assert payment["status"] == "WAITING_FOR_DEPOSIT" and payment["approvedAt"] is None
    assert payment["virtualAccount"]["settlementStatus"] == "INCOMPLETED"
    assert payment["balanceAmount"] == 9000
    reversal_key = payment["lastTransactionKey"]
    assert reversal_key != deposit_key

    def callbacks():
        got = [e for e in events_of(receiver, order_id) if "data" not in e]
        return got if len(got) == 2 else None

    done, back = eventually(callbacks, what="both DEPOSIT_CALLBACKs")
    assert (done["status"], back["status"]) == ("DONE", "WAITING_FOR_DEPOSIT")
    assert back["secret"] == payment["secret"] and back["transactionKey"] == reversal_key
    eventually(
        lambda: [
            e
            for e in events_of(receiver, order_id)
            if "data" in e and e["data"]["status"] == "WAITING_FOR_DEPOSIT"
        ][1:],
        what="the second WAITING_FOR_DEPOSIT webhook",
    )
    rows = day_transactions(toss, clock_now(toss).date())
    assert [(r["transactionKey"], r["status"]) for r in rows] == [
        (deposit_key, "DONE"),
        (reversal_key, "WAITING_FOR_DEPOSIT"),
    ]
    # the buyer can pay in again
    assert deposit(toss, order_id).status_code == 200
    assert toss.get(payment_key).json()["status"] == "DONE"
    assert len(toss.record(order_id)["sandbox"]["deposits"]) == 2


# --- T-18 (waiting for deposit) and refunds ------------------------------------------------


def test_t18_a_waiting_account_is_cancelled_in_full_only(toss):
    order_id, payment_key, _payment = issued(toss, 15000)

    partial = toss.cancel(payment_key, {"cancelReason": "x", "cancelAmount": 1000})
    assert error_of(partial) == (403, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT")
    assert toss.get(payment_key).json()["status"] == "WAITING_FOR_DEPOSIT"

    full = toss.cancel(payment_key, {"cancelReason": "주문 취소"})  # no refund account needed
    assert full.status_code == 200, full.text
    payment = full.json()
    assert payment["status"] == "CANCELED" and payment["balanceAmount"] == 0
    assert [c["cancelAmount"] for c in payment["cancels"]] == [15000]
    assert payment["virtualAccount"]["refundStatus"] == "NONE"
    assert error_of(deposit(toss, order_id)) == (409, "NOT_WAITING_FOR_DEPOSIT")
    assert error_of(deposit(toss, order_id, late=True)) == (409, "NOT_WAITING_FOR_DEPOSIT")
    assert day_transactions(toss, clock_now(toss).date()) == []  # no money ever moved


@pytest.mark.parametrize(
    "account, code",
    [
        (None, "INVALID_REQUEST"),
        ({"bank": "88", "accountNumber": "110123"}, "INVALID_REQUEST"),
        ({**REFUND_ACCOUNT, "holderName": "가" * 61}, "INVALID_REQUEST"),
        ({**REFUND_ACCOUNT, "accountNumber": 11012345}, "INVALID_REQUEST"),
        ({**REFUND_ACCOUNT, "accountNumber": "110-123-456"}, "INVALID_REFUND_ACCOUNT_NUMBER"),
        ({**REFUND_ACCOUNT, "accountNumber": "1" * 21}, "INVALID_REFUND_ACCOUNT_NUMBER"),
        ({**REFUND_ACCOUNT, "bank": "99"}, "INVALID_BANK"),
    ],
)
def test_a_deposited_account_is_refunded_only_to_a_valid_refund_account(toss, account, code):
    order_id, payment_key, _payment = issued(toss, 15000)
    assert deposit(toss, order_id).status_code == 200
    body = {"cancelReason": "환불"} | ({} if account is None else {"refundReceiveAccount": account})

    assert error_of(toss.cancel(payment_key, body)) == (400, code)

    payment = toss.get(payment_key).json()
    assert payment["status"] == "DONE" and payment["balanceAmount"] == 15000
    assert payment["virtualAccount"]["refundReceiveAccount"] is None


def test_a_refund_of_a_deposited_account_keeps_the_account_masked(toss):
    order_id, payment_key, _payment = issued(toss, 15000)
    assert deposit(toss, order_id).status_code == 200

    partial = toss.cancel(
        payment_key,
        {"cancelReason": "부분 환불", "cancelAmount": 5000, "refundReceiveAccount": REFUND_ACCOUNT},
    )

    assert partial.status_code == 200, partial.text
    payment = partial.json()
    assert payment["status"] == "PARTIAL_CANCELED" and payment["balanceAmount"] == 10000
    account = payment["virtualAccount"]
    assert account["refundStatus"] == "COMPLETED"
    assert account["refundReceiveAccount"] == {
        "bank": "88",
        "accountNumber": "**********8901",
        "holderName": "김토스",
    }
    assert REFUND_ACCOUNT["accountNumber"] not in partial.text
    assert toss.get_order(order_id).json()["virtualAccount"] == account
    rest = toss.cancel(
        payment_key, {"cancelReason": "나머지", "refundReceiveAccount": REFUND_ACCOUNT}
    )
    assert rest.json()["status"] == "CANCELED"


# --- reconciliation records ------------------------------------------------------------------


def test_a_deposit_is_a_transaction_dated_at_the_deposit(toss):
    issue_at = move_to(toss, TUESDAY)
    order_id, payment_key, _payment = issued(toss, 20000)
    toss.advance(24 * 3600)  # paid in the next day
    assert deposit(toss, order_id).status_code == 200
    payment = toss.get(payment_key).json()
    deposit_day = datetime.fromisoformat(payment["approvedAt"]).date()
    assert deposit_day == issue_at.date() + timedelta(days=1)

    assert day_transactions(toss, issue_at.date()) == []
    rows = day_transactions(toss, deposit_day)
    assert len(rows) == 1
    row = rows[0]
    assert (row["orderId"], row["paymentKey"], row["status"]) == (order_id, payment_key, "DONE")
    assert row["method"] == "가상계좌" and row["amount"] == 20000
    assert row["transactionKey"] == payment["lastTransactionKey"]
    assert row["transactionAt"] == payment["approvedAt"]
    english = toss.call(
        "GET",
        "/v1/transactions",
        params={"startDate": str(deposit_day), "endDate": f"{deposit_day}T23:59:59"},
        headers={"Accept-Language": "en-US"},
    ).json()
    assert english[0]["method"] == "VIRTUAL_ACCOUNT"

    lines = toss.call(
        "GET",
        "/v1/settlements",
        params={"startDate": str(deposit_day), "endDate": str(deposit_day)},
    ).json()
    assert len(lines) == 1
    line = lines[0]
    assert (line["amount"], line["fees"], line["payOutAmount"]) == (
        20000,
        [{"type": "BASE", "fee": 300}],
        19700,
    )
    assert line["card"] is None and line["virtualAccount"]["bankCode"] == "20"
    assert line["soldDate"] == str(deposit_day) and line["approvedAt"] == payment["approvedAt"]

    csv = toss.http.get(
        f"{toss.base}/sandbox/toss/settlement-file", params={"date": str(deposit_day)}, timeout=5
    ).text.splitlines()
    assert len(csv) == 2
    assert csv[1].split(",")[1:9] == [
        str(deposit_day),
        payment_key,
        payment["lastTransactionKey"],
        order_id,
        "APPROVAL",
        "20000",
        "300",
        "19700",
    ]
    empty = toss.http.get(
        f"{toss.base}/sandbox/toss/settlement-file", params={"date": str(issue_at.date())}
    )
    assert len(empty.text.splitlines()) == 1  # the issue is no transaction


# --- what is never kept, and what is ------------------------------------------------------


def test_the_request_log_never_keeps_the_refund_account_or_the_secret(toss):
    order_id, payment_key, payment = issued(toss, 15000)
    assert deposit(toss, order_id).status_code == 200
    number = "99887766554433"
    refund = toss.cancel(
        payment_key,
        {
            "cancelReason": "환불",
            "refundReceiveAccount": {**REFUND_ACCOUNT, "accountNumber": number},
        },
        key=f"refund-{order_id}",
    )
    assert refund.status_code == 200, refund.text
    assert number not in refund.text

    logged = toss.http.get(f"{toss.base}/sandbox/requests", params={"orderId": order_id}, timeout=5)
    operations = [r.get("operation") for r in logged.json()["requests"]]
    assert {"confirm", "deposit", "cancel"} <= set(operations)
    assert number not in logged.text and payment["secret"] not in logged.text
    deliveries = toss.http.get(f"{toss.base}/sandbox/webhooks", timeout=5).text
    assert payment["secret"] not in deliveries

    def lines():
        output = toss.process.output()
        return output if f"refund-{order_id}" in output or output.count(order_id) >= 3 else None

    output = eventually(lines, what="the log lines")
    assert number not in output and payment["secret"] not in output


def kept(payment: dict) -> dict:
    """The Payment object less its URLs, which name the sandbox's (new) port."""
    return {k: v for k, v in payment.items() if k not in ("receipt", "checkout")}


def test_virtual_accounts_survive_a_restart(tmp_path):
    state = tmp_path / "sandbox-state.json"
    process, base = start_sandbox("--state-file", str(state))
    toss = TossSandbox(base, process)
    try:
        waiting, waiting_key, _payment = issued(toss, 7000)
        paid, paid_key, _payment = issued(toss, 8000)
        assert deposit(toss, paid).status_code == 200
        refund = {"cancelReason": "x", "cancelAmount": 1000, "refundReceiveAccount": REFUND_ACCOUNT}
        assert toss.cancel(paid_key, refund).status_code == 200
        before = {key: kept(toss.get(key).json()) for key in (waiting_key, paid_key)}
        time.sleep(1.2)  # the state file is written at most twice a second
    finally:
        process.stop()
    assert REFUND_ACCOUNT["accountNumber"] not in state.read_text()

    process, base = start_sandbox("--state-file", str(state))
    toss = TossSandbox(base, process)
    try:
        for key, payment in before.items():
            assert kept(toss.get(key).json()) == payment
        assert len(toss.record(paid)["sandbox"]["deposits"]) == 1
        assert deposit(toss, waiting).status_code == 200
        rows = day_transactions(toss, clock_now(toss).date())
        assert sorted(r["orderId"] for r in rows if r["status"] == "DONE") == sorted(
            [waiting, paid]
        )
    finally:
        process.stop()

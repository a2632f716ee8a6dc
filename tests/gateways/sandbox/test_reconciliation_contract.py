"""What reconciliation reads from the sandbox, driven over HTTP as a real process
(docs/sandbox.md, Reconciliation records): Toss's transactions and settlements, the
NicePay and KakaoPay settlement files, and the differences made on purpose.

Dates matter here (payout days skip weekends), so tests move the sandbox clock to a
known weekday at noon, Korean time, before they pay.
"""

import time
from datetime import date, datetime, timedelta

import pytest
import requests
from django.conf import settings

from gateways.nicepay.client import NicePayClient
from gateways.sandbox.clock import KST
from gateways.sandbox.settlement import fee_of, payout_date
from tests.gateways.sandbox.kakaopay_client import CID, KakaoSandbox
from tests.sandbox import CLIENT_KEY, TossSandbox

pytestmark = pytest.mark.processes

MONDAY, FRIDAY, SATURDAY = 0, 4, 5
HEADER = (
    "merchant_id,transaction_date,tid,transaction_id,order_id,type,amount,fee,payout_amount,"
    "payout_date"
)
TRANSACTION_FIELDS = {
    "mId",
    "transactionKey",
    "paymentKey",
    "orderId",
    "method",
    "customerKey",
    "useEscrow",
    "receiptUrl",
    "status",
    "transactionAt",
    "currency",
    "amount",
}


def clock_now(sandbox: TossSandbox) -> datetime:
    """The sandbox time to the microsecond: its offset on the same wall clock."""
    offset = sandbox.http.get(f"{sandbox.base}/sandbox/clock").json()["offsetSeconds"]
    return datetime.now(KST) + timedelta(seconds=offset)


def move_to(sandbox: TossSandbox, weekday: int, hour: int = 12) -> date:
    """Move the sandbox clock forward to the next `weekday` at `hour`:00 KST; its date."""
    now = clock_now(sandbox)
    target = (now + timedelta(days=(weekday - now.weekday()) % 7)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    if target <= now:
        target += timedelta(days=7)
    sandbox.advance((target - now).total_seconds())
    return target.date()


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"], body
    return response.status_code, body["code"]


def csv_text(*rows: str) -> str:
    return "".join(f"{line}\r\n" for line in (HEADER, *rows))


def about(stamp: str, expected: datetime) -> bool:
    """A +09:00 timestamp within a few seconds after `expected` (requests take time)."""
    return timedelta(0) <= datetime.fromisoformat(stamp) - expected < timedelta(seconds=5)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=KST)


def eventually(check, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --- the three PGs behind one small interface, for the differences ----------------------


class TossPg:
    name, method, merchant = "toss", "카드", "tvivarepublica"
    approved, partly, cancelled = "DONE", "PARTIAL_CANCELED", "CANCELED"

    def __init__(self, toss: TossSandbox):
        self.sandbox = toss

    def authenticated(self, amount: int) -> str:
        order_id = self.sandbox.new_order_id()
        self.sandbox.authorize(order_id, amount)
        return order_id

    def paid(self, amount: int) -> str:
        return self.sandbox.paid(amount)[0]

    def unauthenticated(self) -> str:
        """A window opened but never paid: READY."""
        order_id = self.sandbox.new_order_id()
        window = self.sandbox.http.get(
            f"{self.sandbox.base}/toss/window",
            params={
                "clientKey": CLIENT_KEY,
                "orderId": order_id,
                "amount": 5000,
                "orderName": "x",
                "successUrl": "http://shop.test/ok",
                "failUrl": "http://shop.test/fail",
            },
        )
        assert window.status_code == 200
        return order_id

    def state(self, order_id: str) -> tuple:
        """(status, amount, balance, cancels, approvals, merchant calls) from the record."""
        r = self.sandbox.record(order_id)
        calls = r["sandbox"]["confirmCalls"]
        return (
            r["status"],
            r["totalAmount"],
            r["balanceAmount"],
            len(r["cancels"] or []),
            r["sandbox"]["approvals"],
            calls,
        )

    def looked_up(self, order_id: str) -> tuple[str, int, int]:
        """(status, amount, balance) as the PG's own lookup answers."""
        p = self.sandbox.get_order(order_id).json()
        return p["status"], p["totalAmount"], p["balanceAmount"]

    def cancel_reasons(self, order_id: str) -> list:
        return [c["cancelReason"] for c in self.sandbox.record(order_id)["cancels"] or []]

    def tid(self, order_id: str) -> str:
        return self.sandbox.record(order_id)["paymentKey"]


class NicePg:
    name, method = "nicepay", "card"
    approved, partly, cancelled = "paid", "partialCancelled", "cancelled"

    def __init__(self, toss: TossSandbox):
        self.sandbox = toss
        config = settings.PAYMENT_GATEWAYS["nicepay"]
        self.client = NicePayClient(
            api_base=f"{toss.base}/nicepay",
            client_key=config["CLIENT_KEY"],
            secret_key=config["SECRET_KEY"],
            connect_timeout=1,
            read_timeout=5,
        )
        self.merchant = config["CLIENT_KEY"]

    def authenticated(self, amount: int) -> str:
        order_id = self.sandbox.new_order_id()
        response = self.sandbox.http.post(
            f"{self.sandbox.base}/sandbox/nicepay/authorize",
            json={"orderId": order_id, "amount": amount},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return order_id

    def paid(self, amount: int) -> str:
        order_id = self.authenticated(amount)
        body = self.client.approve(tid=self.tid(order_id), order_id=order_id, amount=amount).body
        assert body["resultCode"] == "0000", body
        return order_id

    def unauthenticated(self) -> str:
        """NicePay only knows authenticated tids: one past its approval window (A245)."""
        order_id = self.authenticated(5000)
        self.sandbox.advance(601)
        return order_id

    def record(self, order_id: str) -> dict:
        url = f"{self.sandbox.base}/sandbox/nicepay/payments/{order_id}"
        return self.sandbox.http.get(url, timeout=5).json()

    def state(self, order_id: str) -> tuple:
        r = self.record(order_id)
        return (
            r["status"],
            r["amount"],
            r["balanceAmt"],
            len(r["cancels"] or []),
            r["sandbox"]["approvals"],
            r["sandbox"]["approveCalls"],
        )

    def looked_up(self, order_id: str) -> tuple[str, int, int]:
        body = self.client.get(self.tid(order_id)).body
        return body["status"], body["amount"], body["balanceAmt"]

    def cancel_reasons(self, order_id: str) -> list:
        return [c["reason"] for c in self.record(order_id)["cancels"] or []]

    def tid(self, order_id: str) -> str:
        return self.record(order_id)["tid"]


class KakaoPg:
    name, method, merchant = "kakaopay", "CARD", CID
    approved, partly, cancelled = "SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT", "CANCEL_PAYMENT"

    def __init__(self, toss: TossSandbox):
        self.sandbox = toss
        secret = settings.PAYMENT_GATEWAYS["kakaopay"]["SECRET_KEY"]
        self.client = KakaoSandbox(toss.base, toss.process, secret=secret)

    def authenticated(self, amount: int, **ready) -> str:
        return self.client.authorized(amount, **ready)[0]

    def paid(self, amount: int, **ready) -> str:
        return self.client.paid(amount, **ready)[0]

    def unauthenticated(self) -> str:
        """A ready the buyer never authenticated: READY."""
        order_id = self.client.new_order_id()
        assert self.client.ready(order_id, 5000).status_code == 200
        return order_id

    def state(self, order_id: str) -> tuple:
        r = self.client.record(order_id)
        cancels = [a for a in r["payment_action_details"] if a["payment_action_type"] == "CANCEL"]
        return (
            r["status"],
            r["amount"]["total"],
            r["cancel_available_amount"]["total"],
            len(cancels),
            r["sandbox"]["approvals"],
            r["sandbox"]["approveCalls"],
        )

    def looked_up(self, order_id: str) -> tuple[str, int, int]:
        body = self.client.order(self.tid(order_id)).json()
        return body["status"], body["amount"]["total"], body["cancel_available_amount"]["total"]

    def cancel_reasons(self, order_id: str) -> list:
        return []  # KakaoPay's cancel carries no reason

    def tid(self, order_id: str) -> str:
        return self.client.record(order_id)["tid"]


PGS = {"toss": TossPg, "nicepay": NicePg, "kakaopay": KakaoPg}


@pytest.fixture(params=sorted(PGS))
def pg(request, toss):
    return PGS[request.param](toss)


def difference(sandbox: TossSandbox, gateway: str, body) -> requests.Response:
    return sandbox.http.post(f"{sandbox.base}/sandbox/{gateway}/differences", json=body, timeout=5)


def settlement_file(sandbox: TossSandbox, gateway: str, **params) -> requests.Response:
    url = f"{sandbox.base}/sandbox/{gateway}/settlement-file"
    return sandbox.http.get(url, params=params, timeout=5)


def file_rows(sandbox: TossSandbox, gateway: str, day: date) -> list[list[str]]:
    response = settlement_file(sandbox, gateway, date=day.isoformat())
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert lines[0] == HEADER
    return [line.split(",") for line in lines[1:]]


# --- the fee table and the payout rule ---------------------------------------------------


@pytest.mark.parametrize(
    "gateway, method, amount, fee",
    [
        ("toss", "카드", 15000, 435),
        ("toss", "카드", 500, 15),  # 14.5: half up, not to even
        ("toss", "카드", -500, -15),  # a cancel gives back the fee of its amount
        ("nicepay", "card", 150, 5),  # 4.5
        ("nicepay", "card", -4050, -122),  # 121.5
        ("kakaopay", "CARD", 15000, 480),
        ("kakaopay", "MONEY", 1020, 26),  # 25.5
        ("kakaopay", "MONEY", -20, -1),  # 0.5
    ],
)
def test_fees_follow_the_table_rounded_half_up(gateway, method, amount, fee):
    assert fee_of(gateway, method, amount) == fee


@pytest.mark.parametrize(
    "sold, paid_out",
    [
        (date(2024, 5, 6), date(2024, 5, 9)),  # Monday -> Thursday
        (date(2024, 5, 8), date(2024, 5, 13)),  # Wednesday -> Monday
        (date(2024, 5, 10), date(2024, 5, 15)),  # Friday -> Wednesday
        (date(2024, 5, 11), date(2024, 5, 15)),  # Saturday -> Wednesday
        (date(2024, 5, 12), date(2024, 5, 15)),  # Sunday -> Wednesday
    ],
)
def test_payout_is_three_business_days_later(sold, paid_out):
    assert payout_date(sold) == paid_out


# --- Toss GET /v1/transactions -----------------------------------------------------------


def test_transactions_show_the_approval_and_each_cancel_with_the_status_after_it(toss):
    day = move_to(toss, FRIDAY)
    order_id, key = toss.paid(10000)
    toss.advance(60)
    assert toss.cancel(key, {"cancelReason": "부분", "cancelAmount": 4000}).status_code == 200
    toss.advance(60)
    assert toss.cancel(key, {"cancelReason": "나머지"}).status_code == 200
    payment = toss.get(key).json()

    rows = toss.call(
        "GET", "/v1/transactions", params={"startDate": day, "endDate": day + timedelta(days=1)}
    ).json()

    assert all(set(row) == TRANSACTION_FIELDS for row in rows)
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("DONE", 10000),
        ("PARTIAL_CANCELED", 4000),
        ("CANCELED", 6000),
    ]
    cancels = payment["cancels"]
    assert [r["transactionKey"] for r in rows] == [
        rows[0]["transactionKey"],
        cancels[0]["transactionKey"],
        cancels[1]["transactionKey"],
    ]
    assert rows[0]["transactionKey"] not in {c["transactionKey"] for c in cancels}
    assert [r["transactionAt"] for r in rows] == [
        payment["approvedAt"],
        cancels[0]["canceledAt"],
        cancels[1]["canceledAt"],
    ]
    assert about(rows[0]["transactionAt"], noon(day))
    first = rows[0]
    assert (first["mId"], first["paymentKey"], first["orderId"]) == (
        "tvivarepublica",
        key,
        order_id,
    )
    assert (first["method"], first["customerKey"], first["useEscrow"]) == ("카드", None, False)
    assert first["currency"] == "KRW" and first["receiptUrl"] == payment["receipt"]["url"]
    english = toss.call(
        "GET",
        "/v1/transactions",
        params={"startDate": day, "endDate": day + timedelta(days=1)},
        headers={"Accept-Language": "en-US"},
    ).json()
    assert {r["method"] for r in english} == {"CARD"}


def test_transactions_page_with_starting_after_and_limit(toss):
    day = move_to(toss, MONDAY)
    keys = []
    for amount in (1000, 2000, 3000):
        _order_id, key = toss.paid(amount)
        keys.append(toss.get(key).json()["lastTransactionKey"])
        toss.advance(10)
    window = {"startDate": day, "endDate": day + timedelta(days=1)}

    def page(**params) -> list[str]:
        response = toss.call("GET", "/v1/transactions", params={**window, **params})
        assert response.status_code == 200, response.text
        return [row["transactionKey"] for row in response.json()]

    assert page() == keys
    assert page(limit=2) == keys[:2]
    assert page(limit=2, startingAfter=keys[1]) == keys[2:]
    assert page(startingAfter=keys[0], limit=1) == keys[1:2]
    assert page(startingAfter=keys[2]) == []
    assert page(limit=5000) == keys


def test_transactions_filter_by_date_and_date_time(toss):
    day = move_to(toss, FRIDAY)
    toss.paid(1000)
    toss.advance(24 * 3600)
    toss.paid(2000)
    nxt = day + timedelta(days=1)

    def amounts(start, end) -> list[int]:
        response = toss.call("GET", "/v1/transactions", params={"startDate": start, "endDate": end})
        assert response.status_code == 200, response.text
        return [row["amount"] for row in response.json()]

    # A date alone is 00:00 KST, so endDate=nxt ends the day before.
    assert amounts(day, nxt) == [1000]
    assert amounts(nxt, nxt + timedelta(days=1)) == [2000]
    assert amounts(day, nxt + timedelta(days=1)) == [1000, 2000]
    assert amounts(f"{nxt}T00:00:00+09:00", f"{nxt}T23:59:59+09:00") == [2000]
    assert amounts(f"{nxt}T11:00:00", f"{nxt}T13:00:00") == [2000]  # no offset: KST
    assert amounts(f"{day}T15:00:00Z", f"{nxt}T03:59:59Z") == [2000]  # 00:00-12:59 KST
    assert amounts(f"{day}T15:00:00Z", f"{nxt}T02:59:59Z") == []  # 00:00-11:59 KST
    assert amounts(f"{nxt}T12:30:00+09:00", f"{nxt}T23:00:00+09:00") == []


def test_transactions_need_the_secret_key(toss):
    params = {"startDate": "2024-01-01", "endDate": "2024-01-02"}
    url = f"{toss.base}/toss/v1/transactions"

    assert error_of(toss.http.get(url, params=params)) == (401, "UNAUTHORIZED_KEY")
    assert error_of(toss.call("GET", "/v1/transactions", params=params, secret="test_sk_nope")) == (
        401,
        "UNAUTHORIZED_KEY",
    )
    assert toss.call("GET", "/v1/transactions", params=params).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"endDate": "2024-01-02"},
        {"startDate": "2024-01-01"},
        {"startDate": "2024-13-01", "endDate": "2024-12-31"},
        {"startDate": "yesterday", "endDate": "2024-01-02"},
        {"startDate": "2024-01-02", "endDate": "2024-01-01"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "limit": "0"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "limit": "5001"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "limit": "-1"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "limit": "ten"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "startingAfter": "NO-SUCH-KEY"},
    ],
)
def test_transactions_bad_parameters_are_invalid_request(toss, params):
    toss.paid(1000)  # something to list, so the refusal is about the parameters

    response = toss.call("GET", "/v1/transactions", params=params)

    assert error_of(response) == (400, "INVALID_REQUEST")


def test_faults_can_target_transactions(toss):
    toss.fault(operation="transactions", errorCode="PROVIDER_ERROR", count=1)
    params = {"startDate": "2024-01-01", "endDate": "2024-01-02"}

    assert error_of(toss.call("GET", "/v1/transactions", params=params)) == (
        400,
        "PROVIDER_ERROR",
    )
    assert toss.call("GET", "/v1/transactions", params=params).status_code == 200


# --- Toss GET /v1/settlements ------------------------------------------------------------


def test_settlements_take_fees_from_the_table_and_pay_out_three_business_days_later(toss):
    friday = move_to(toss, FRIDAY)
    wednesday = friday + timedelta(days=5)
    order_id, key = toss.paid(15000)
    toss.advance(60)
    assert toss.cancel(key, {"cancelReason": "부분", "cancelAmount": 500}).status_code == 200

    def lines(**params) -> list[dict]:
        response = toss.call("GET", "/v1/settlements", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    sold = lines(startDate=friday, endDate=friday)
    assert [
        (line["amount"], line["fees"], line["payOutAmount"], line["soldDate"], line["paidOutDate"])
        for line in sold
    ] == [
        (15000, [{"type": "BASE", "fee": 435}], 14565, str(friday), str(wednesday)),
        (-500, [{"type": "BASE", "fee": -15}], -485, str(friday), str(wednesday)),
    ]
    assert {line["orderId"] for line in sold} == {order_id}
    assert sold[1]["cancel"] == {"cancelAmount": 500, "cancelReason": "부분"}
    by_payout = lines(startDate=wednesday, endDate=wednesday, dateType="paidOutDate")
    assert [line["amount"] for line in by_payout] == [15000, -500]
    tuesday = wednesday - timedelta(days=1)
    assert lines(startDate=tuesday, endDate=tuesday, dateType="paidOutDate") == []


def test_a_saturday_sale_pays_out_on_wednesday(toss):
    saturday = move_to(toss, SATURDAY)
    toss.paid(10000)

    [line] = toss.call(
        "GET", "/v1/settlements", params={"startDate": saturday, "endDate": saturday}
    ).json()

    assert (line["fees"][0]["fee"], line["payOutAmount"]) == (290, 9710)
    assert line["paidOutDate"] == str(saturday + timedelta(days=4))


# --- settlement files ---------------------------------------------------------------------


def test_nicepay_settlement_file_for_a_day_with_an_approval_and_a_partial_cancel(toss):
    nice = NicePg(toss)
    friday = move_to(toss, FRIDAY)
    order_id = nice.paid(10150)
    tid = nice.tid(order_id)
    toss.advance(60)
    cancel = nice.client.cancel(
        tid=tid, order_id=order_id, cancel_order_id="c-1", reason="부분", amount=4050
    ).body
    assert cancel["resultCode"] == "2001", cancel
    cancelled_tid = cancel["cancelledTid"]
    toss.advance(24 * 3600)
    next_order = nice.paid(1000)  # Saturday: another day's file
    next_tid = nice.tid(next_order)

    response = settlement_file(toss, "nicepay", date=str(friday))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    m, wed = nice.merchant, friday + timedelta(days=5)
    # transaction_id: the approval's tid, then the cancel's own (cancelledTid)
    assert response.text == csv_text(
        f"{m},{friday},{tid},{tid},{order_id},APPROVAL,10150,305,9845,{wed}",
        f"{m},{friday},{tid},{cancelled_tid},{order_id},CANCEL,-4050,-122,-3928,{wed}",
    )
    saturday = friday + timedelta(days=1)
    assert settlement_file(toss, "nicepay", date=str(saturday)).text == csv_text(
        f"{m},{saturday},{next_tid},{next_tid},{next_order},APPROVAL,1000,30,970,{wed}"
    )


def test_a_nicepay_net_cancel_row_has_a_transaction_id_of_its_own(toss):
    nice = NicePg(toss)
    monday = move_to(toss, MONDAY)
    order_id = nice.paid(7000)
    tid = nice.tid(order_id)
    toss.advance(60)
    netcancel = nice.client.netcancel(order_id=order_id).body
    assert netcancel["status"] == "cancelled", netcancel

    rows = file_rows(toss, "nicepay", monday)

    # NicePay gives a net cancel no tid: the row's key is the tid with a suffix, so it is
    # not the approval's key again (a reader would take it for a duplicated row).
    assert [(r[2], r[3], r[5], r[6]) for r in rows] == [
        (tid, tid, "APPROVAL", "7000"),
        (tid, f"{tid}-NETCANCEL", "CANCEL", "-7000"),
    ]
    assert len(rows[1][3]) <= 64


def aids(kakao: KakaoPg, order_id: str) -> list[str]:
    """The aid of each payment action (the approval, then each cancel), as KakaoPay keeps them."""
    return [a["aid"] for a in kakao.client.record(order_id)["payment_action_details"]]


def test_kakaopay_settlement_file_for_a_day_with_an_approval_and_a_partial_cancel(toss):
    kakao = KakaoPg(toss)
    monday = move_to(toss, MONDAY)
    card_order = kakao.paid(15000)
    card_tid = kakao.tid(card_order)
    toss.advance(60)
    assert kakao.client.cancel(card_tid, 5000).status_code == 200
    toss.advance(60)
    money_order = kakao.paid(1020, payment_method_type="MONEY")
    money_tid = kakao.tid(money_order)
    card_paid, card_cancel = aids(kakao, card_order)
    [money_paid] = aids(kakao, money_order)

    response = settlement_file(toss, "kakaopay", date=str(monday))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    thu = monday + timedelta(days=3)
    assert response.text == csv_text(
        f"{CID},{monday},{card_tid},{card_paid},{card_order},APPROVAL,15000,480,14520,{thu}",
        f"{CID},{monday},{card_tid},{card_cancel},{card_order},CANCEL,-5000,-160,-4840,{thu}",
        f"{CID},{monday},{money_tid},{money_paid},{money_order},APPROVAL,1020,26,994,{thu}",
    )
    assert settlement_file(toss, "kakaopay", date=str(monday - timedelta(days=1))).text == (
        csv_text()
    )


def test_toss_settlement_file_has_the_same_layout(toss):
    friday = move_to(toss, FRIDAY)
    order_id, key = toss.paid(10000)
    approval = toss.get(key).json()["lastTransactionKey"]
    toss.advance(60)
    cancel = toss.cancel(key, {"cancelReason": "부분", "cancelAmount": 4000}).json()
    cancel_key = cancel["cancels"][0]["transactionKey"]

    response = settlement_file(toss, "toss", date=str(friday))

    wed, m = friday + timedelta(days=5), "tvivarepublica"
    assert response.text == csv_text(
        f"{m},{friday},{key},{approval},{order_id},APPROVAL,10000,290,9710,{wed}",
        f"{m},{friday},{key},{cancel_key},{order_id},CANCEL,-4000,-116,-3884,{wed}",
    )


@pytest.mark.parametrize("gateway", ["nicepay", "kakaopay", "toss"])
@pytest.mark.parametrize("raw", [None, "", "2024-1-05", "20240105", "2024-02-30", "tomorrow"])
def test_a_settlement_file_needs_a_valid_date(toss, gateway, raw):
    params = {} if raw is None else {"date": raw}

    response = settlement_file(toss, gateway, **params)

    assert response.headers["Content-Type"].startswith("application/json")
    assert error_of(response) == (400, "INVALID_REQUEST")


def test_a_settlement_file_of_an_unknown_gateway_is_not_found(toss):
    assert error_of(settlement_file(toss, "paypal", date="2024-01-05")) == (404, "NOT_FOUND")


# --- differences made on purpose ---------------------------------------------------------


def test_approve_unseen_approves_an_authenticated_payment_the_app_never_confirmed(toss, pg):
    day = move_to(toss, FRIDAY)
    order_id = pg.authenticated(8000)
    toss.advance(120)

    response = difference(toss, pg.name, {"kind": "approve_unseen", "orderId": order_id})

    assert response.status_code == 200, response.text
    # approved once, with no call from the merchant behind it
    assert pg.state(order_id) == (pg.approved, 8000, 8000, 0, 1, 0)
    assert pg.looked_up(order_id) == (pg.approved, 8000, 8000)
    fee = fee_of(pg.name, pg.method, 8000)
    payout = str(day + timedelta(days=5))
    [row] = file_rows(toss, pg.name, day)
    assert row[:3] == [pg.merchant, str(day), pg.tid(order_id)] and row[3]
    assert row[4:] == [order_id, "APPROVAL", "8000", str(fee), str(8000 - fee), payout]


def test_approve_unseen_at_toss_is_stamped_now_and_listed_and_sends_its_webhook(toss, receiver):
    toss.webhooks(receiver.url)
    day = move_to(toss, FRIDAY)
    pg = TossPg(toss)
    order_id = pg.authenticated(8000)
    toss.advance(300)

    record = difference(toss, "toss", {"kind": "approve_unseen", "orderId": order_id}).json()

    assert about(record["approvedAt"], noon(day) + timedelta(seconds=300))
    rows = toss.call(
        "GET", "/v1/transactions", params={"startDate": day, "endDate": day + timedelta(days=1)}
    ).json()
    assert [(r["orderId"], r["status"], r["transactionAt"]) for r in rows] == [
        (order_id, "DONE", record["approvedAt"])
    ]
    # The app confirming it late sees what the real Toss would answer.
    confirm = toss.confirm(record["paymentKey"], order_id, 8000)
    assert error_of(confirm) == (400, "ALREADY_PROCESSED_PAYMENT")
    events = eventually(lambda: receiver.received, what="the DONE webhook")
    assert events[0]["data"]["status"] == "DONE"


def test_dashboard_cancel_cancels_part_then_the_rest_with_a_reason(toss, pg):
    day = move_to(toss, MONDAY)
    order_id = pg.paid(10000)
    toss.advance(60)

    partial = difference(
        toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id, "amount": 3000}
    )
    toss.advance(60)
    rest = difference(toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id})

    assert partial.status_code == rest.status_code == 200, (partial.text, rest.text)
    assert pg.state(order_id)[:4] == (pg.cancelled, 10000, 0, 2)
    assert pg.looked_up(order_id) == (pg.cancelled, 10000, 0)
    if pg.name != "kakaopay":  # KakaoPay's cancel has no reason field
        assert pg.cancel_reasons(order_id) == ["가맹점 관리자 취소"] * 2
    rows = file_rows(toss, pg.name, day)
    assert [(r[5], r[6]) for r in rows] == [
        ("APPROVAL", "10000"),
        ("CANCEL", "-3000"),
        ("CANCEL", "-7000"),
    ]
    assert len({r[3] for r in rows}) == 3  # each transaction its own key


def test_dashboard_cancel_leaves_a_partial_cancel_status(toss, pg):
    order_id = pg.paid(10000)

    response = difference(
        toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id, "amount": 2500}
    )

    assert response.status_code == 200, response.text
    assert pg.looked_up(order_id) == (pg.partly, 10000, 7500)


def test_toss_dashboard_cancels_are_transaction_rows_each_one_real(toss):
    day = move_to(toss, FRIDAY)
    order_id, _key = toss.paid(10000)
    body = {"kind": "dashboard_cancel", "orderId": order_id, "amount": 4000}
    toss.advance(60)
    assert difference(toss, "toss", body).ok
    toss.advance(60)

    # No idempotency key behind a dashboard cancel: the same one again really happens.
    record = difference(toss, "toss", body).json()

    rows = toss.call(
        "GET", "/v1/transactions", params={"startDate": day, "endDate": day + timedelta(days=1)}
    ).json()
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("DONE", 10000),
        ("PARTIAL_CANCELED", 4000),
        ("PARTIAL_CANCELED", 4000),
    ]
    assert [c["cancelReason"] for c in record["cancels"]] == ["가맹점 관리자 취소"] * 2
    assert record["balanceAmount"] == 2000


def test_amount_changed_shows_everywhere(toss, pg):
    day = move_to(toss, FRIDAY)
    order_id = pg.paid(10000)
    toss.advance(60)

    response = difference(
        toss, pg.name, {"kind": "amount_changed", "orderId": order_id, "amount": 12000}
    )

    assert response.status_code == 200, response.text
    assert pg.state(order_id)[:5] == (pg.approved, 12000, 12000, 0, 1)
    assert pg.looked_up(order_id) == (pg.approved, 12000, 12000)
    [row] = file_rows(toss, pg.name, day)
    fee = fee_of(pg.name, pg.method, 12000)
    assert row[4:9] == [order_id, "APPROVAL", "12000", str(fee), str(12000 - fee)]


def test_amount_changed_after_a_partial_cancel_keeps_what_was_cancelled(toss, pg):
    order_id = pg.paid(10000)
    assert difference(
        toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id, "amount": 4000}
    ).ok

    response = difference(
        toss, pg.name, {"kind": "amount_changed", "orderId": order_id, "amount": 9000}
    )

    assert response.status_code == 200, response.text
    assert pg.looked_up(order_id) == (pg.partly, 9000, 5000)


def test_amount_changed_shows_in_toss_transactions_and_settlements(toss):
    day = move_to(toss, FRIDAY)
    order_id, key = toss.paid(10000)
    toss.advance(60)
    toss.cancel(key, {"cancelReason": "부분", "cancelAmount": 4000})

    difference(toss, "toss", {"kind": "amount_changed", "orderId": order_id, "amount": 11000})

    window = {"startDate": day, "endDate": day + timedelta(days=1)}
    rows = toss.call("GET", "/v1/transactions", params=window).json()
    assert [(r["status"], r["amount"]) for r in rows] == [
        ("DONE", 11000),
        ("PARTIAL_CANCELED", 4000),
    ]
    lines = toss.call("GET", "/v1/settlements", params={"startDate": day, "endDate": day}).json()
    assert [(line["amount"], line["fees"][0]["fee"]) for line in lines] == [
        (11000, 319),
        (-4000, -116),
    ]
    assert toss.get(key).json()["cancels"][0]["refundableAmount"] == 7000


# --- refused differences: nothing changes ---------------------------------------------------


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"kind": "refund_all", "orderId": "{order}"}, 400, "INVALID_REQUEST"),
        ({"orderId": "{order}"}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel"}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel", "orderId": ""}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel", "orderId": "no-such-order"}, 404, "NOT_FOUND"),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "amount": 0}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "amount": -5}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "amount": "1"}, 400, "INVALID_REQUEST"),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "amount": 1.5}, 400, "INVALID_REQUEST"),
        (
            {"kind": "dashboard_cancel", "orderId": "{order}", "amount": True},
            400,
            "INVALID_REQUEST",
        ),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "amount": 10001}, 400, "INVALID_STATE"),
        ({"kind": "dashboard_cancel", "orderId": "{order}", "why": "x"}, 400, "INVALID_REQUEST"),
        ({"kind": "amount_changed", "orderId": "{order}"}, 400, "INVALID_REQUEST"),
        ({"kind": "amount_changed", "orderId": "{order}", "amount": 0}, 400, "INVALID_REQUEST"),
        ({"kind": "amount_changed", "orderId": "{order}", "amount": 10000}, 400, "INVALID_STATE"),
        ({"kind": "approve_unseen", "orderId": "{order}"}, 400, "INVALID_STATE"),
        ({"kind": "approve_unseen", "orderId": "{order}", "amount": 5}, 400, "INVALID_REQUEST"),
        ("approve_unseen", 400, "INVALID_REQUEST"),
    ],
)
def test_bad_differences_are_refused_and_change_nothing(toss, pg, body, status, code):
    order_id = pg.paid(10000)
    before = pg.state(order_id)
    if isinstance(body, dict):
        body = {k: v.format(order=order_id) if isinstance(v, str) else v for k, v in body.items()}

    response = difference(toss, pg.name, body)

    assert error_of(response) == (status, code)
    assert pg.state(order_id) == before


def test_only_an_authenticated_payment_can_be_approved_unseen(toss, pg):
    order_id = pg.unauthenticated()
    before = pg.state(order_id)

    response = difference(toss, pg.name, {"kind": "approve_unseen", "orderId": order_id})

    assert error_of(response) == (400, "INVALID_STATE")
    assert pg.state(order_id) == before


def test_an_unapproved_payment_can_be_neither_cancelled_nor_changed(toss, pg):
    order_id = pg.authenticated(5000)
    before = pg.state(order_id)

    cancel = difference(toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id})
    change = difference(
        toss, pg.name, {"kind": "amount_changed", "orderId": order_id, "amount": 6000}
    )

    assert error_of(cancel) == error_of(change) == (400, "INVALID_STATE")
    assert pg.state(order_id) == before


def test_an_amount_change_cannot_go_below_what_is_cancelled(toss, pg):
    order_id = pg.paid(10000)
    assert difference(
        toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id, "amount": 6000}
    ).ok
    before = pg.state(order_id)

    for amount in (6000, 5000):
        response = difference(
            toss, pg.name, {"kind": "amount_changed", "orderId": order_id, "amount": amount}
        )
        assert error_of(response) == (400, "INVALID_STATE")

    assert pg.state(order_id) == before


def test_a_fully_cancelled_payment_can_be_neither_cancelled_nor_changed(toss, pg):
    order_id = pg.paid(10000)
    assert difference(toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id}).ok
    before = pg.state(order_id)

    cancel = difference(toss, pg.name, {"kind": "dashboard_cancel", "orderId": order_id})
    change = difference(
        toss, pg.name, {"kind": "amount_changed", "orderId": order_id, "amount": 20000}
    )

    assert error_of(cancel) == error_of(change) == (400, "INVALID_STATE")
    assert pg.state(order_id) == before


def test_differences_of_an_unknown_gateway_are_not_found(toss):
    response = difference(toss, "paypal", {"kind": "approve_unseen", "orderId": "order-1"})

    assert error_of(response) == (404, "NOT_FOUND")

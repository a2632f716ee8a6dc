"""The app's readers of the PGs' records of a day, for reconciliation (docs/pg.md, Reading
the PGs' records): Toss's transactions and settlements page by page, and the settlement
file an operator downloads from NicePay or KakaoPay, read against the sandbox running as
a real process.

Payout dates skip weekends, so the tests move the sandbox clock to noon KST on a known
weekday before they pay, and a few seconds between operations so the order is certain.
"""

import copy
import uuid
from datetime import date, datetime, timedelta

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured

from gateways import errors
from gateways.base import get_gateway
from gateways.sandbox.clock import KST
from gateways.settlement_file import HEADER, BadSettlementFile, read, validate
from gateways.types import (
    TX_APPROVAL,
    TX_CANCEL,
    CancelRequest,
    ConfirmRequest,
    PgSettlement,
    PgTransaction,
    PrepareRequest,
)

MONDAY, THURSDAY, FRIDAY = 0, 3, 4


def move_to(sandbox, weekday: int) -> date:
    """Move the sandbox clock forward to the next `weekday` at 12:00 KST; that date."""
    offset = sandbox.http.get(f"{sandbox.base}/sandbox/clock", timeout=5).json()["offsetSeconds"]
    now = datetime.now(KST) + timedelta(seconds=offset)
    target = (now + timedelta(days=(weekday - now.weekday()) % 7)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    if target <= now:
        target += timedelta(days=7)
    sandbox.advance((target - now).total_seconds())
    return target.date()


def point_at(settings, sandbox, **toss) -> None:
    """The three gateways at the test sandbox; `toss` overrides Toss's configuration."""
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    for code in ("toss", "nicepay", "kakaopay"):
        gateways[code].update(API_BASE=f"{sandbox.base}/{code}", READ_TIMEOUT=5.0)
    gateways["toss"].update(toss)
    settings.PAYMENT_GATEWAYS = gateways


def calls(sandbox, operation: str) -> int:
    params = {"gateway": "toss", "operation": operation}
    return len(
        sandbox.http.get(f"{sandbox.base}/sandbox/requests", params=params).json()["requests"]
    )


def cancel_request(order_id: str, payment_key: str, amount: int | None) -> CancelRequest:
    return CancelRequest(
        order_id=order_id,
        payment_key=payment_key,
        reason="test",
        amount=amount,
        idempotency_key=uuid.uuid4().hex,
    )


# --- Toss: GET /v1/transactions and GET /v1/settlements ---------------------------------


@pytest.fixture
def toss_day(sandbox):
    """A Friday at Toss with six transactions, two of them equal partial cancels, between
    a Thursday payment and a Saturday one; (the day, the expected transactions)."""
    thursday = move_to(sandbox, THURSDAY)
    sandbox.paid(1000)
    friday = move_to(sandbox, FRIDAY)
    assert friday == thursday + timedelta(days=1)

    def paid(amount: int) -> tuple[str, str, str]:
        order_id, key = sandbox.paid(amount)
        sandbox.advance(10)
        return order_id, key, sandbox.get(key).json()["lastTransactionKey"]

    def cancel(key: str, amount: int | None) -> str:
        body = {"cancelReason": "test"} | ({"cancelAmount": amount} if amount else {})
        response = sandbox.cancel(key, body)
        assert response.status_code == 200, response.text
        sandbox.advance(10)
        return response.json()["lastTransactionKey"]

    o1, k1, a1 = paid(10000)
    o2, k2, a2 = paid(15000)
    c1 = cancel(k1, 3000)
    o3, k3, a3 = paid(500)
    c2 = cancel(k1, 3000)  # the same amount again: only its key tells the two apart
    c3 = cancel(k2, None)
    sandbox.advance(24 * 3600)
    sandbox.paid(2000)  # Saturday: not Friday's
    expected = [
        PgTransaction(o1, k1, a1, TX_APPROVAL, 10000, friday),
        PgTransaction(o2, k2, a2, TX_APPROVAL, 15000, friday),
        PgTransaction(o1, k1, c1, TX_CANCEL, 3000, friday),
        PgTransaction(o3, k3, a3, TX_APPROVAL, 500, friday),
        PgTransaction(o1, k1, c2, TX_CANCEL, 3000, friday),
        PgTransaction(o2, k2, c3, TX_CANCEL, 15000, friday),
    ]
    assert len({t.transaction_key for t in expected}) == 6
    return friday, expected


@pytest.mark.processes
@pytest.mark.parametrize("page_size, pages", [(2, 4), (4, 2), (1, 7), (5000, 1)])
def test_toss_day_transactions_read_every_row_once_in_order(
    sandbox, settings, toss_day, page_size, pages
):
    day, expected = toss_day
    point_at(settings, sandbox, RECONCILE_PAGE_SIZE=page_size)
    before = calls(sandbox, "transactions")

    read_back = list(get_gateway("toss").day_transactions(day))

    assert read_back == expected
    # a full page asks for the next one: six rows in pages of two is four requests
    assert calls(sandbox, "transactions") - before == pages


@pytest.mark.processes
@pytest.mark.parametrize("page_size, pages", [(2, 4), (4, 2), (5000, 1)])
def test_toss_day_settlements_carry_the_fees_of_the_sandbox_table(
    sandbox, settings, toss_day, page_size, pages
):
    day, transactions = toss_day
    point_at(settings, sandbox, RECONCILE_PAGE_SIZE=page_size)
    before = calls(sandbox, "settlements")

    read_back = list(get_gateway("toss").day_settlements(day))

    wednesday = day + timedelta(days=5)  # three business days after a Friday
    # 2.9 %, whole won rounded half up; a cancel gives back the fee of its amount
    fees = [290, 435, -87, 15, -87, -435]  # 14.5 of 500 rounds up to 15
    expected = [
        PgSettlement(
            transaction_key=t.transaction_key,
            order_id=t.order_id,
            kind=t.kind,
            amount=t.amount if t.kind == TX_APPROVAL else -t.amount,
            fee=fee,
            payout_amount=(t.amount if t.kind == TX_APPROVAL else -t.amount) - fee,
            payout_date=wednesday,
        )
        for t, fee in zip(transactions, fees, strict=True)
    ]
    assert read_back == expected
    assert calls(sandbox, "settlements") - before == pages


@pytest.mark.processes
def test_toss_reads_nothing_of_a_day_without_transactions(sandbox, settings, toss_day):
    day, _ = toss_day
    point_at(settings, sandbox, RECONCILE_PAGE_SIZE=2)
    toss = get_gateway("toss")

    assert list(toss.day_transactions(day + timedelta(days=2))) == []
    assert list(toss.day_settlements(day + timedelta(days=2))) == []


@pytest.mark.processes
@pytest.mark.parametrize("operation", ["transactions", "settlements"])
@pytest.mark.parametrize(
    "code, raised",
    [
        ("PROVIDER_ERROR", errors.Retryable),  # 400 but transient, as for a lookup
        ("UNAUTHORIZED_KEY", errors.OutcomeUnknown),  # our keys: a person must look
        ("INVALID_REQUEST", errors.Rejected),
    ],
)
def test_toss_reader_errors_are_the_gateway_error_classes(
    sandbox, settings, toss_day, operation, code, raised
):
    day, _ = toss_day
    point_at(settings, sandbox, RECONCILE_PAGE_SIZE=2)
    sandbox.fault(operation=operation, errorCode=code, count=1)
    reader = getattr(get_gateway("toss"), f"day_{operation}")

    with pytest.raises(raised) as caught:
        list(reader(day))

    assert (caught.value.operation, caught.value.code) == (operation, code)


@responses.activate
def test_a_toss_transaction_of_another_kind_is_unreadable_not_skipped(settings):
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    gateways["toss"]["API_BASE"] = "http://toss.test"
    settings.PAYMENT_GATEWAYS = gateways
    row = {
        "transactionKey": "t1",
        "paymentKey": "p1",
        "orderId": "order-1",
        "status": "ABORTED",  # WAITING_FOR_DEPOSIT is read and left out: test_payment_details
        "transactionAt": "2026-12-02T12:00:00+09:00",
        "amount": 1000,
    }
    responses.get("http://toss.test/v1/transactions", json=[row])

    with pytest.raises(errors.OutcomeUnknown) as caught:
        list(get_gateway("toss").day_transactions(date(2026, 12, 2)))

    assert caught.value.code == "UNREADABLE_RESPONSE"


@responses.activate
@pytest.mark.parametrize(
    "operation, row",
    [
        (
            "transactions",
            {
                "transactionKey": "t1",
                "paymentKey": "p1",
                "orderId": "order-1",
                "status": "DONE",
                "transactionAt": "2026-12-02T12:00:00+09:00",
                "amount": 1000,
            },
        ),
        (
            "settlements",
            {
                "transactionKey": "t1",
                "orderId": "order-1",
                "amount": 1000,
                "fees": [{"type": "BASE", "fee": 29}],
                "payOutAmount": 971,
                "paidOutDate": "2026-12-07",
                "cancel": None,
            },
        ),
    ],
)
def test_a_toss_page_that_does_not_move_on_ends_the_read(settings, operation, row):
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    gateways["toss"].update(API_BASE="http://toss.test", RECONCILE_PAGE_SIZE=1)
    settings.PAYMENT_GATEWAYS = gateways
    # The same full page whatever the cursor or page number asks for.
    responses.get(f"http://toss.test/v1/{operation}", json=[row])
    reader = getattr(get_gateway("toss"), f"day_{operation}")(date(2026, 12, 2))

    assert next(reader).transaction_key == "t1"
    with pytest.raises(errors.OutcomeUnknown) as caught:
        next(reader)

    assert caught.value.code == "UNREADABLE_RESPONSE" and len(responses.calls) == 2


@pytest.mark.parametrize("size", [0, 5001])
def test_toss_page_size_must_be_one_toss_accepts(settings, size):
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    gateways["toss"]["RECONCILE_PAGE_SIZE"] = size
    settings.PAYMENT_GATEWAYS = gateways

    with pytest.raises(ImproperlyConfigured):
        get_gateway("toss")


def test_which_gateways_reconcile_from_a_file_and_whose_records_are_ours(settings):
    config = settings.PAYMENT_GATEWAYS
    toss, nice, kakao = (get_gateway(code) for code in ("toss", "nicepay", "kakaopay"))

    assert (toss.reconciles_from_file, nice.reconciles_from_file, kakao.reconciles_from_file) == (
        False,
        True,
        True,
    )
    assert toss.merchant_id() == config["toss"]["MID"] == "tvivarepublica"
    assert nice.merchant_id() == config["nicepay"]["CLIENT_KEY"]
    assert kakao.merchant_id() == config["kakaopay"]["CID"]
    for gateway in (nice, kakao):
        with pytest.raises(errors.UnsupportedGateway):
            gateway.day_transactions(date(2026, 12, 2))
        with pytest.raises(errors.UnsupportedGateway):
            gateway.day_settlements(date(2026, 12, 2))


# --- NicePay and KakaoPay: the downloaded settlement file -------------------------------


def download(sandbox, gateway: str, day: date, tmp_path):
    response = requests.get(
        f"{sandbox.base}/sandbox/{gateway}/settlement-file",
        params={"date": day.isoformat()},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    path = tmp_path / f"{gateway}-{day}.csv"
    path.write_bytes(response.content)
    return path


def nicepay_paid(sandbox, amount: int) -> tuple[str, str]:
    nice = get_gateway("nicepay")
    order_id = f"order-{uuid.uuid4().hex[:16]}"
    response = requests.post(
        f"{sandbox.base}/sandbox/nicepay/authorize",
        json={"orderId": order_id, "amount": amount, "clientId": nice.merchant_id()},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    tid = response.json()["tid"]
    nice.confirm(ConfirmRequest(order_id, tid, amount, idempotency_key=uuid.uuid4().hex))
    sandbox.advance(10)
    return order_id, tid


@pytest.mark.processes
def test_a_nicepay_settlement_file_reads_back_row_by_row(sandbox, settings, tmp_path):
    point_at(settings, sandbox)
    nice = get_gateway("nicepay")
    monday = move_to(sandbox, MONDAY)
    order_a, tid_a = nicepay_paid(sandbox, 10150)
    cancels = []
    for _ in range(2):  # two equal partial cancels: two rows, each with its own key
        after = nice.cancel(cancel_request(order_a, tid_a, 4050))
        cancels.append(after.last_transaction_key)
        sandbox.advance(10)
    order_b, tid_b = nicepay_paid(sandbox, 1000)
    assert nice.client.netcancel(order_id=order_b).body["status"] == "cancelled"
    sandbox.advance(24 * 3600)
    nicepay_paid(sandbox, 2000)  # Tuesday: not in Monday's file
    path = download(sandbox, "nicepay", monday, tmp_path)

    rows = list(read(path, merchant_id=nice.merchant_id(), day=monday))

    assert len(set(cancels)) == 2 and tid_a not in cancels
    assert [t for t, _ in rows] == [
        PgTransaction(order_a, tid_a, tid_a, TX_APPROVAL, 10150, monday),
        PgTransaction(order_a, tid_a, cancels[0], TX_CANCEL, 4050, monday),
        PgTransaction(order_a, tid_a, cancels[1], TX_CANCEL, 4050, monday),
        PgTransaction(order_b, tid_b, tid_b, TX_APPROVAL, 1000, monday),
        PgTransaction(order_b, tid_b, f"{tid_b}-NETCANCEL", TX_CANCEL, 1000, monday),
    ]
    thursday = monday + timedelta(days=3)
    # 3.0 %: 304.5 rounds up to 305, 121.5 to 122
    assert [(s.kind, s.amount, s.fee, s.payout_amount, s.payout_date) for _, s in rows] == [
        (TX_APPROVAL, 10150, 305, 9845, thursday),
        (TX_CANCEL, -4050, -122, -3928, thursday),
        (TX_CANCEL, -4050, -122, -3928, thursday),
        (TX_APPROVAL, 1000, 30, 970, thursday),
        (TX_CANCEL, -1000, -30, -970, thursday),
    ]
    assert all(t.transaction_key == s.transaction_key for t, s in rows)
    assert validate(path, merchant_id=nice.merchant_id(), day=monday) == 5
    with pytest.raises(BadSettlementFile) as caught:  # the wrong day's file
        validate(path, merchant_id=nice.merchant_id(), day=monday + timedelta(days=1))
    assert caught.value.line == 2


@pytest.mark.processes
def test_a_kakaopay_settlement_file_reads_back_row_by_row(sandbox, settings, tmp_path):
    point_at(settings, sandbox)
    kakao = get_gateway("kakaopay")
    monday = move_to(sandbox, MONDAY)
    order_id = f"order-{uuid.uuid4().hex[:16]}"
    prepared = kakao.prepare(
        PrepareRequest(
            order_id=order_id,
            order_name="test",
            amount=15000,
            quantity=1,
            buyer_ref="buyer-1",
            approval_url="http://shop.test/ok",
            cancel_url="http://shop.test/cancel",
            fail_url="http://shop.test/fail",
        )
    )
    tid = prepared.payment_key
    token = requests.post(
        f"{sandbox.base}/sandbox/kakaopay/authorize", json={"tid": tid}, timeout=5
    ).json()["pg_token"]
    approved = kakao.confirm(
        ConfirmRequest(
            order_id,
            tid,
            15000,
            idempotency_key=uuid.uuid4().hex,
            auth_token=token,
            buyer_ref="buyer-1",
        )
    )
    assert approved.balance_amount == 15000
    record = requests.get(f"{sandbox.base}/sandbox/kakaopay/payments/{order_id}", timeout=5)
    keys = [record.json()["payment_action_details"][0]["aid"]]  # the approval's aid
    for _ in range(2):
        sandbox.advance(10)
        keys.append(kakao.cancel(cancel_request(order_id, tid, 5000)).last_transaction_key)
    path = download(sandbox, "kakaopay", monday, tmp_path)

    rows = list(read(path, merchant_id=kakao.merchant_id(), day=monday))

    assert len(set(keys)) == 3 and None not in keys
    assert [t for t, _ in rows] == [
        PgTransaction(order_id, tid, keys[0], TX_APPROVAL, 15000, monday),
        PgTransaction(order_id, tid, keys[1], TX_CANCEL, 5000, monday),
        PgTransaction(order_id, tid, keys[2], TX_CANCEL, 5000, monday),
    ]
    thursday = monday + timedelta(days=3)
    assert [s for _, s in rows] == [
        PgSettlement(keys[0], order_id, TX_APPROVAL, 15000, 480, 14520, thursday),  # 3.2 %
        PgSettlement(keys[1], order_id, TX_CANCEL, -5000, -160, -4840, thursday),
        PgSettlement(keys[2], order_id, TX_CANCEL, -5000, -160, -4840, thursday),
    ]
    with pytest.raises(BadSettlementFile) as caught:  # another merchant's reader
        validate(path, merchant_id="TC0OTHER", day=monday)
    assert caught.value.line == 2 and 'is not ours (expected "TC0OTHER")' in caught.value.reason


# --- files the reader refuses -------------------------------------------------------------

M, DAY = "S2_test_merchant", date(2026, 12, 2)  # a Wednesday: paid out the next Monday
HEAD = ",".join(HEADER)
A1 = f"{M},2026-12-02,tid1,tid1,order-1,APPROVAL,10000,300,9700,2026-12-07"
C1 = f"{M},2026-12-02,tid1,ctid1,order-1,CANCEL,-4000,-120,-3880,2026-12-07"
A2 = f"{M},2026-12-02,tid2,tid2,order-2,APPROVAL,500,15,485,2026-12-07"


def csv_file(tmp_path, *lines: str, end: str = "\r\n", prefix: bytes = b"") -> str:
    path = tmp_path / "settlement.csv"
    path.write_bytes(prefix + "".join(line + end for line in lines).encode())
    return path


def test_a_good_file_reads_the_same_in_two_passes(tmp_path):
    path = csv_file(tmp_path, HEAD, A1, C1, A2)

    first = list(read(path, merchant_id=M, day=DAY))
    second = list(read(path, merchant_id=M, day=DAY))

    assert first == second and validate(path, merchant_id=M, day=DAY) == 3
    assert first[1] == (
        PgTransaction("order-1", "tid1", "ctid1", TX_CANCEL, 4000, DAY),
        PgSettlement("ctid1", "order-1", TX_CANCEL, -4000, -120, -3880, date(2026, 12, 7)),
    )


@pytest.mark.parametrize(
    "options",
    [
        {"end": "\n"},  # LF line ends
        {"prefix": "\ufeff".encode()},  # a spreadsheet's byte-order mark
    ],
)
def test_a_file_with_lf_line_ends_or_a_byte_order_mark_reads(tmp_path, options):
    path = csv_file(tmp_path, HEAD, A1, C1, A2, **options)

    assert validate(path, merchant_id=M, day=DAY) == 3


def test_rows_stream_before_a_bad_one_is_reached(tmp_path):
    path = csv_file(tmp_path, HEAD, A1, C1, A1)  # line 4 repeats line 2
    rows = read(path, merchant_id=M, day=DAY)

    assert next(rows)[0].transaction_key == "tid1"
    assert next(rows)[0].transaction_key == "ctid1"
    with pytest.raises(BadSettlementFile) as caught:
        next(rows)
    assert str(caught.value) == "line 4: duplicate of line 2 (transaction_id tid1)"


def test_a_line_is_physical_when_a_quoted_field_spans_lines(tmp_path):
    spanning = f'{M},2026-12-02,tid3,tid3,"order\r\n-3",APPROVAL,100,3,97,2026-12-07'
    path = csv_file(tmp_path, HEAD, spanning, A1, A1)  # the spanning row is lines 2-3

    with pytest.raises(BadSettlementFile) as caught:
        validate(path, merchant_id=M, day=DAY)

    assert (caught.value.line, caught.value.reason) == (
        5,
        "duplicate of line 4 (transaction_id tid1)",
    )


def swap(row: str, column: str, value: str) -> str:
    fields = row.split(",")
    fields[HEADER.index(column)] = value
    return ",".join(fields)


@pytest.mark.parametrize(
    "lines, line, fragment",
    [
        pytest.param(
            [",".join(reversed(HEADER)), A1],
            1,
            "expected the header merchant_id,transaction_date,tid,transaction_id,order_id",
            id="wrong-header",
        ),
        pytest.param(
            [HEAD.replace(",transaction_id", ""), A1.replace(",tid1,tid1,", ",tid1,")],
            1,
            "expected the header",
            id="header-without-transaction-id",
        ),
        pytest.param(
            [HEAD, A1, "M,2026-12-02,tid1,order-1,CANCEL,-4000,-120,-3880,2026-12-07"],
            3,
            "wrong number of columns: 9, expected 10",
            id="column-count",
        ),
        pytest.param(
            [HEAD, swap(A1, "fee", "12.5")],
            2,
            'column "fee" is not a whole number: "12.5"',
            id="fraction",
        ),
        pytest.param(
            [HEAD, A1, swap(A2, "amount", '"1,000"')],
            3,
            'column "amount" is not a whole number: "1,000"',
            id="thousands-separator",
        ),
        pytest.param(
            [HEAD, swap(A1, "payout_amount", "")],
            2,
            'column "payout_amount" is not a whole number: ""',
            id="empty-number",
        ),
        pytest.param(
            [HEAD, swap(A1, "transaction_date", "2026-02-30")],
            2,
            'column "transaction_date" is not a date (YYYY-MM-DD): "2026-02-30"',
            id="impossible-date",
        ),
        pytest.param(
            [HEAD, A1, swap(C1, "payout_date", "07/12/2026")],
            3,
            'column "payout_date" is not a date (YYYY-MM-DD): "07/12/2026"',
            id="date-format",
        ),
        pytest.param(
            [HEAD, A1, swap(C1, "payout_date", "2026-12-01")],
            3,
            "payout_date 2026-12-01 is before transaction_date 2026-12-02",
            id="paid-out-before-sold",
        ),
        pytest.param(
            [HEAD, A1, swap(A2, "merchant_id", "S2_other")],
            3,
            f'merchant_id "S2_other" is not ours (expected "{M}")',
            id="another-merchant",
        ),
        pytest.param(
            [HEAD, A1, C1, swap(A2, "transaction_id", "ctid1")],
            4,
            "duplicate of line 3 (transaction_id ctid1)",
            id="duplicate-transaction-id",
        ),
        pytest.param(
            [HEAD, A1, swap(C1, "payout_amount", "-4000")],
            3,
            "payout_amount must be amount - fee",
            id="payout-not-amount-minus-fee",
        ),
        pytest.param(
            [HEAD, A1.replace(",10000,300,9700,", ",-10000,-300,-9700,")],
            2,
            "APPROVAL needs a positive amount",
            id="approval-negative",
        ),
        pytest.param(
            [HEAD, A1, C1.replace(",-4000,-120,-3880,", ",4000,120,3880,")],
            3,
            "CANCEL needs a negative amount",
            id="cancel-positive",
        ),
        pytest.param(
            [HEAD, A1, swap(A2, "transaction_date", "2026-12-01")],
            3,
            "transaction_date 2026-12-01 is not the day being reconciled (2026-12-02)",
            id="another-day",
        ),
        pytest.param(
            [HEAD, swap(A1, "type", "REFUND")],
            2,
            "type must be APPROVAL or CANCEL",
            id="type-unknown",
        ),
        pytest.param(
            [HEAD, A1, swap(C1, "transaction_id", "")],
            3,
            'column "transaction_id" is empty',
            id="no-transaction-id",
        ),
        pytest.param([HEAD, A1, "", A2], 3, "empty line", id="blank-line"),
        pytest.param(
            [HEAD, A1, f'{M},2026-12-02,"tid2"x,tid2,order-2,APPROVAL,500,15,485,2026-12-07'],
            3,
            "not CSV",
            id="bad-quoting",
        ),
    ],
)
def test_a_bad_file_is_refused_at_its_first_bad_line(tmp_path, lines, line, fragment):
    path = csv_file(tmp_path, *lines)

    with pytest.raises(BadSettlementFile) as caught:
        validate(path, merchant_id=M, day=DAY)

    assert caught.value.line == line, caught.value
    assert fragment in caught.value.reason
    assert str(caught.value) == f"line {line}: {caught.value.reason}"


@pytest.mark.parametrize(
    "content", [b"", "\ufeff".encode()], ids=["no-bytes", "only-a-byte-order-mark"]
)
def test_an_empty_file_is_refused_as_a_whole(tmp_path, content):
    path = tmp_path / "settlement.csv"
    path.write_bytes(content)

    with pytest.raises(BadSettlementFile) as caught:
        validate(path, merchant_id=M, day=DAY)

    assert (caught.value.line, caught.value.reason) == (0, "the file is empty: no header line")


def test_a_file_not_in_utf8_is_refused_at_the_line_that_is_not(tmp_path):
    # A spreadsheet saving in EUC-KR: the whole file is decoded before the first row is
    # parsed, yet the error names the line the bad bytes are on.
    path = tmp_path / "settlement.csv"
    euc_kr = swap(A2, "order_id", "주문-2").encode("euc-kr")
    path.write_bytes(f"{HEAD}\r\n{A1}\r\n".encode() + euc_kr + b"\r\n")

    with pytest.raises(BadSettlementFile) as caught:
        validate(path, merchant_id=M, day=DAY)

    assert (caught.value.line, caught.value.reason) == (3, "not UTF-8")

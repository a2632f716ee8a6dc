"""What the buyer paid with (PaymentDetails), virtual accounts, refund accounts and the
redaction of the PGs' answers (docs/pg.md, What the buyer paid with): each gateway fed
answers shaped as the PGs document them (docs/pg.md), or as the sandbox answers."""

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import responses

from gateways import errors
from gateways.base import get_gateway
from gateways.details import (
    REDACTED,
    bank,
    bank_name,
    mask_account_number,
    mask_card_number,
    redacted,
)
from gateways.sandbox.kakaopay.payments import Action, KakaoPayment, approve_json, order_json
from gateways.sandbox.nicepay.payments import NicePayment
from gateways.sandbox.nicepay.payments import payment_json as nice_json
from gateways.sandbox.toss.payments import CARD as TOSS_CARD
from gateways.sandbox.toss.payments import TossPayment
from gateways.sandbox.toss.payments import payment_json as toss_json
from gateways.types import (
    CancelRequest,
    CardType,
    CashReceiptType,
    ConfirmRequest,
    InvalidRefundAccount,
    PaymentDetails,
    PayMethod,
    PgStatus,
    RefundAccount,
)

KST = timezone(timedelta(hours=9))
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=KST)
SECRET = "ps_GjLJoQ1aVZ965EbZMQy13w6KYe2R"
FULL_CARD = "4330123456781234"
REFUND_NUMBER = "110123456789"


def strings(value):
    """Every key and scalar of a JSON-like value, as text, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif value is not None:
        yield str(value)


def keys(value, path=""):
    """The set of key paths of a JSON-like value (lists by position)."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= {f"{path}/{key}"} | keys(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= keys(item, f"{path}/{index}")
    return found


def nowhere(needle: str, raw) -> bool:
    return not any(needle in text for text in strings(raw))


@pytest.fixture
def at(settings):
    """get_gateway(code) with its API_BASE at `base` (mocked with `responses`)."""

    def point(code: str, base: str):
        gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
        gateways[code].update(API_BASE=base, READ_TIMEOUT=0.5, CONNECT_TIMEOUT=0.5)
        settings.PAYMENT_GATEWAYS = gateways
        return get_gateway(code)

    return point


# --- Toss ----------------------------------------------------------------------------------


def toss_card_answer(**overrides) -> dict:
    """The sandbox's answer for a confirmed card payment."""
    payment = TossPayment(
        payment_key="tgen_20261202120000AbCd1",
        order_id="ord-123456",
        order_name="t-shirt",
        amount=15000,
        status="DONE",
        requested_at=NOW,
        balance=15000,
        authenticated_at=NOW,
        approved_at=NOW,
        method=TOSS_CARD,
        approve_no="00000000",
        last_transaction_key="A" * 32,
    )
    body = toss_json(payment, base_url="http://toss.test", english=overrides.pop("english", False))
    body.update(overrides)
    return body


def toss_virtual_account_answer(**overrides) -> dict:
    """A virtual account issued by confirm (1.4; the example of T-TC 1444558775297249371)."""
    body = {
        "mId": "tvivarepublica",
        "lastTransactionKey": "B" * 32,
        "paymentKey": "tkemm20250406232859lQDg2",
        "orderId": "ord-123456",
        "status": "WAITING_FOR_DEPOSIT",
        "requestedAt": "2026-12-02T12:00:00+09:00",
        "approvedAt": None,
        "card": None,
        "virtualAccount": {
            "accountNumber": "X9018612307559",
            "accountType": "일반",
            "bankCode": "20",
            "customerName": "김토스",
            "dueDate": "2026-12-09T23:59:59+09:00",
            "expired": False,
            "settlementStatus": "INCOMPLETED",
            "refundStatus": "NONE",
            "refundReceiveAccount": None,
        },
        "cashReceipt": {
            "type": "소득공제",
            "receiptKey": "rk_1",
            "issueNumber": "123456789",
            "receiptUrl": "https://dashboard.tosspayments.com/receipt/cash",
            "amount": 11111,
        },
        "cancels": None,
        "secret": SECRET,
        "easyPay": None,
        "failure": None,
        "receipt": {"url": "https://dashboard.tosspayments.com/receipt/bank-transfer"},
        "totalAmount": 11111,
        "balanceAmount": 11111,
        "method": "가상계좌",
    }
    body.update(overrides)
    return body


CONFIRM = ConfirmRequest(
    order_id="ord-123456", payment_key="tgen_20261202120000AbCd1", amount=15000, idempotency_key="k"
)


@responses.activate
def test_a_toss_card_payment_reads_its_card(at):
    responses.post("http://toss.test/v1/payments/confirm", json=toss_card_answer())

    payment = at("toss", "http://toss.test").confirm(CONFIRM)

    assert payment.status == PgStatus.APPROVED
    assert payment.details == PaymentDetails(
        method=PayMethod.CARD,
        card_company="롯데카드",  # issuerCode 71, named from Toss's table
        card_number="43301234****123*",
        card_type=CardType.CREDIT,
        installment_months=0,
        approval_number="00000000",
        receipt_url="http://toss.test/receipt/tgen_20261202120000AbCd1",
    )


@responses.activate
def test_toss_english_labels_read_the_same(at):
    responses.post("http://toss.test/v1/payments/confirm", json=toss_card_answer(english=True))

    details = at("toss", "http://toss.test").confirm(CONFIRM).details

    assert (details.method, details.card_type) == (PayMethod.CARD, CardType.CREDIT)


@responses.activate
def test_toss_easy_pay_names_its_provider_and_the_card_behind_it(at):
    answer = toss_card_answer(method="간편결제", easyPay={"provider": "토스페이", "amount": 0})
    answer["card"].update(number="53176460****129*", cardType="체크", installmentPlanMonths=3)
    responses.post("http://toss.test/v1/payments/confirm", json=answer)

    details = at("toss", "http://toss.test").confirm(CONFIRM).details

    assert details.method == PayMethod.EASY_PAY and details.easy_pay_provider == "토스페이"
    assert details.card_number == "53176460****129*" and details.card_type == CardType.CHECK
    assert details.installment_months == 3


@responses.activate
def test_toss_easy_pay_with_its_money_has_no_card(at):
    answer = toss_card_answer(
        method="간편결제", card=None, easyPay={"provider": "토스페이", "amount": 15000}
    )
    responses.post("http://toss.test/v1/payments/confirm", json=answer)

    details = at("toss", "http://toss.test").confirm(CONFIRM).details

    assert details.method == PayMethod.EASY_PAY and details.easy_pay_provider == "토스페이"
    assert details.card_number is None and details.card_company is None


@responses.activate
def test_a_toss_virtual_account_awaits_its_deposit(at):
    responses.post("http://toss.test/v1/payments/confirm", json=toss_virtual_account_answer())

    payment = at("toss", "http://toss.test").confirm(CONFIRM)

    assert payment.status == PgStatus.AWAITING_DEPOSIT
    assert payment.raw_status == "WAITING_FOR_DEPOSIT" and payment.approved_at is None
    account = payment.details.virtual_account
    assert payment.details.method == PayMethod.VIRTUAL_ACCOUNT
    assert (account.bank_code, account.bank_name) == ("20", "우리은행")
    assert account.account_number == "X9018612307559" and account.holder_name is None
    assert account.due_date == datetime(2026, 12, 9, 23, 59, 59, tzinfo=KST)
    assert account.expired is False
    cash = payment.details.cash_receipt
    assert cash.type == CashReceiptType.INCOME_DEDUCTION and cash.issue_number == "123456789"
    # The secret is for comparing with a DEPOSIT_CALLBACK, and nothing else.
    assert payment.deposit_secret == SECRET
    assert SECRET not in repr(payment) and SECRET not in repr(payment.details)
    assert nowhere(SECRET, payment.raw)
    assert payment.raw["secret"] == REDACTED
    # The account the buyer pays into is shown to them: it stays.
    assert payment.raw["virtualAccount"]["accountNumber"] == "X9018612307559"


@responses.activate
def test_a_toss_lookup_reads_the_details_too(at):
    answer = toss_virtual_account_answer(status="DONE", approvedAt="2026-12-03T09:00:00+09:00")
    responses.get("http://toss.test/v1/payments/orders/ord-123456", json=answer)

    payment = at("toss", "http://toss.test").get_payment_by_order_id("ord-123456")

    assert payment.status == PgStatus.APPROVED
    assert payment.details.virtual_account.account_number == "X9018612307559"
    assert payment.deposit_secret == SECRET


@responses.activate
def test_a_payment_without_a_method_yet_has_none(at):
    answer = toss_card_answer(status="EXPIRED", method=None, card=None, receipt=None)
    responses.get("http://toss.test/v1/payments/orders/ord-123456", json=answer)

    payment = at("toss", "http://toss.test").get_payment_by_order_id("ord-123456")

    assert payment.details == PaymentDetails()


@responses.activate
def test_an_unmasked_card_number_is_masked_in_details_and_raw(at):
    answer = toss_card_answer()
    answer["card"]["number"] = FULL_CARD
    responses.post("http://toss.test/v1/payments/confirm", json=answer)

    payment = at("toss", "http://toss.test").confirm(CONFIRM)

    assert payment.details.card_number == "************1234"
    assert payment.raw["card"]["number"] == "************1234"
    assert nowhere(FULL_CARD, payment.raw)


@responses.activate
def test_a_refunded_virtual_account_keeps_no_secret_or_refund_account(at):
    answer = toss_virtual_account_answer(status="CANCELED", balanceAmount=0)
    answer["virtualAccount"]["refundReceiveAccount"] = {
        "bankCode": "88",
        "accountNumber": REFUND_NUMBER,
        "holderName": "김토스",
    }
    answer["cancels"] = [
        {
            "transactionKey": "C" * 32,
            "cancelAmount": 11111,
            "cancelReason": "refund",
            "refundReceiveAccount": {"bank": "88", "accountNumber": REFUND_NUMBER},
        }
    ]
    responses.get("http://toss.test/v1/payments/orders/ord-123456", json=answer)

    payment = at("toss", "http://toss.test").get_payment_by_order_id("ord-123456")

    assert payment.status == PgStatus.CANCELED
    assert nowhere(SECRET, payment.raw) and nowhere(REFUND_NUMBER, payment.raw)
    assert keys(payment.raw) == keys(answer)  # the same key names, values masked
    refund = payment.raw["virtualAccount"]["refundReceiveAccount"]
    assert refund["accountNumber"] == "********6789" and refund["holderName"] == "김토스"


# --- redaction and masking --------------------------------------------------------------


def test_redacted_hides_secrets_and_card_numbers_of_every_pg():
    raw = {
        "secret": SECRET,
        "signature": "ab" * 32,
        "authToken": "NICEUNTT1234",
        "pg_token": "pgtoken123",
        "tid": "T1234567890123456789",  # KakaoPay's payment key: kept
        "card": {"number": FULL_CARD, "cardNum": "5361121234561234"},
        "list": [{"refundAccount": REFUND_NUMBER}, {"secret": None}],
    }

    clean = redacted(raw)

    for needle in (SECRET, "ab" * 32, "NICEUNTT1234", "pgtoken123", FULL_CARD, REFUND_NUMBER):
        assert nowhere(needle, clean), needle
    assert nowhere("5361121234561234", clean)
    assert clean["tid"] == "T1234567890123456789"
    assert clean["list"][1]["secret"] is None  # null stays null
    assert keys(clean) == keys(raw)
    assert raw["secret"] == SECRET  # a copy: the answer itself is untouched


@pytest.mark.parametrize(
    "number, shown",
    [
        ("43301234****123*", "43301234****123*"),  # as Toss masks it
        ("536112******1234", "536112******1234"),  # as NicePay masks it
        ("4330123456781234", "************1234"),
        ("4330-1234-5678-1234", "****-****-****-1234"),
        ("4330123456789****", "*********6789****"),  # 13 digits in a row, even beside a mask
        ("", None),
        (None, None),
    ],
)
def test_mask_card_number(number, shown):
    assert mask_card_number(number) == shown


def test_mask_account_number_keeps_the_last_four():
    assert mask_account_number("110123456789") == "********6789"
    assert mask_account_number("123") == "***"


def test_bank_codes_read_toss_and_kftc_codes():
    assert bank_name("20") == "우리은행" and bank_name("020") == "우리은행"
    assert bank_name("88") == "신한은행" and bank_name("90") == "카카오뱅크"
    assert bank_name("92") == "토스뱅크" and bank_name("81") == "하나은행"
    assert bank_name("03") == "IBK기업은행" and bank_name("11") == "NH농협은행"
    assert bank("06").kftc == "004" and bank("004").toss == "06" and bank("04").toss == "06"
    assert bank_name("99") is None and bank_name(None) is None


# --- refund accounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bank_code, number, holder, wrong",
    [
        ("99", REFUND_NUMBER, "김토스", "bank_code"),
        ("88", "110-123-456789", "김토스", "account_number"),
        ("88", "1" * 21, "김토스", "account_number"),
        ("88", "", "김토스", "account_number"),
        ("88", "\uff11\uff12\uff13", "김토스", "account_number"),  # full-width digits
        ("88", REFUND_NUMBER, "  ", "holder_name"),
        ("88", REFUND_NUMBER, "가" * 61, "holder_name"),
    ],
)
def test_a_refund_account_is_checked_when_made(bank_code, number, holder, wrong):
    with pytest.raises(InvalidRefundAccount) as caught:
        RefundAccount(bank_code, number, holder)

    assert caught.value.field == wrong and wrong in str(caught.value)


def test_a_refund_account_shows_no_number_in_its_repr():
    account = RefundAccount("88", "1" * 20, "가" * 60)

    assert "1" * 20 not in repr(account) and "가" not in repr(account)


def cancel(refund_account=None, amount=None) -> CancelRequest:
    return CancelRequest(
        order_id="ord-123456",
        payment_key="tkemm20250406232859lQDg2",
        reason="buyer asked",
        amount=amount,
        idempotency_key="refund-1",
        refund_account=refund_account,
    )


@responses.activate
@pytest.mark.parametrize("code", ["88", "088"])
def test_a_toss_cancel_sends_the_refund_account(at, code):
    responses.post(
        "http://toss.test/v1/payments/tkemm20250406232859lQDg2/cancel",
        json=toss_virtual_account_answer(status="CANCELED", balanceAmount=0),
    )

    at("toss", "http://toss.test").cancel(cancel(RefundAccount(code, REFUND_NUMBER, "김토스")))

    sent = json.loads(responses.calls[0].request.body)
    assert sent["refundReceiveAccount"] == {
        "bank": "88",
        "accountNumber": REFUND_NUMBER,
        "holderName": "김토스",
    }
    assert responses.calls[0].request.headers["Idempotency-Key"] == "refund-1"


@responses.activate
def test_a_toss_card_cancel_sends_no_refund_account(at):
    responses.post(
        "http://toss.test/v1/payments/tkemm20250406232859lQDg2/cancel",
        json=toss_card_answer(status="CANCELED", balanceAmount=0),
    )

    at("toss", "http://toss.test").cancel(cancel(amount=1000))

    sent = json.loads(responses.calls[0].request.body)
    assert "refundReceiveAccount" not in sent and sent["cancelAmount"] == 1000


def test_refund_account_numbers_are_not_logged(at, json_log):
    """gateways/http.py logs no bodies: a cancel that fails leaves no number in the logs."""
    with responses.RequestsMock() as mock:
        mock.post(
            "http://toss.test/v1/payments/tkemm20250406232859lQDg2/cancel",
            status=400,
            json={"code": "INVALID_REFUND_ACCOUNT_NUMBER", "message": "bad"},
        )
        with pytest.raises(errors.Rejected):
            at("toss", "http://toss.test").cancel(
                cancel(RefundAccount("88", REFUND_NUMBER, "김토스"))
            )

    assert any(line.get("event") == "pg_call" for line in json_log())
    assert REFUND_NUMBER not in json_log.text() and "김토스" not in json_log.text()


# --- Toss webhooks: DEPOSIT_CALLBACK ------------------------------------------------------


def deposit(**fields) -> bytes:
    body = {
        "createdAt": "2026-12-03T09:00:00.000000",
        "secret": SECRET,
        "status": "DONE",
        "transactionKey": "D" * 32,
        "orderId": "ord-123456",
    }
    body.update(fields)
    return json.dumps(body).encode()


def test_a_deposit_callback_is_read_with_its_secret(at):
    notice = at("toss", "http://toss.test").parse_webhook(deposit())

    assert notice.event_type == "DEPOSIT_CALLBACK"
    assert (notice.order_id, notice.pg_status) == ("ord-123456", "DONE")
    assert notice.secret == SECRET
    assert nowhere(SECRET, notice.payload) and SECRET not in repr(notice)


def test_deposit_callbacks_resent_are_equal_and_other_events_are_not(at):
    toss = at("toss", "http://toss.test")
    first = toss.parse_webhook(deposit())

    assert toss.parse_webhook(deposit()).event_key == first.event_key
    assert toss.parse_webhook(deposit()) == first
    reversal = toss.parse_webhook(deposit(status="WAITING_FOR_DEPOSIT", transactionKey="E" * 32))
    again = toss.parse_webhook(deposit(transactionKey="F" * 32, createdAt="2026-12-04T09:00:00"))
    assert len({first.event_key, reversal.event_key, again.event_key}) == 3
    assert reversal.pg_status == "WAITING_FOR_DEPOSIT"


def test_without_a_transaction_key_the_time_tells_deposits_apart(at):
    toss = at("toss", "http://toss.test")
    one = toss.parse_webhook(deposit(transactionKey=None))
    other = toss.parse_webhook(deposit(transactionKey=None, createdAt="2026-12-05T09:00:00"))

    assert one.event_key != other.event_key
    assert one.event_key == toss.parse_webhook(deposit(transactionKey=None)).event_key


def test_a_deposit_callback_under_data_with_an_event_type_reads_the_same(at):
    toss = at("toss", "http://toss.test")
    flat = toss.parse_webhook(deposit())
    wrapped = {
        "eventType": "DEPOSIT_CALLBACK",
        "createdAt": "2026-12-03T09:00:00.000000",
        "data": json.loads(deposit()),
    }

    notice = toss.parse_webhook(json.dumps(wrapped).encode())

    assert (notice.event_key, notice.secret, notice.pg_status) == (
        flat.event_key,
        SECRET,
        "DONE",
    )
    assert nowhere(SECRET, notice.payload)


@pytest.mark.parametrize("body", [{"secret": None}, {"secret": ""}, {"orderId": None}])
def test_a_deposit_callback_without_its_fields_is_not_one(at, body):
    raw = json.loads(deposit())
    raw.update(body)
    raw["eventType"] = "DEPOSIT_CALLBACK"

    with pytest.raises(errors.InvalidWebhook):
        at("toss", "http://toss.test").parse_webhook(json.dumps(raw).encode())


def test_a_status_change_of_a_virtual_account_keeps_no_secret(at):
    body = {
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": "2026-12-03T09:00:00.000000",
        "data": toss_virtual_account_answer(),
    }

    notice = at("toss", "http://toss.test").parse_webhook(json.dumps(body).encode())

    assert notice.pg_status == "WAITING_FOR_DEPOSIT" and notice.secret is None
    assert nowhere(SECRET, notice.payload)


# --- Toss: a day's transactions with virtual accounts ---------------------------------------


@responses.activate
def test_a_virtual_account_is_reconciled_on_its_deposit_not_its_issue(at, settings):
    row = {
        "paymentKey": "tkemm20250406232859lQDg2",
        "orderId": "ord-123456",
        "method": "가상계좌",
        "amount": 11111,
    }
    issue = {**row, "transactionKey": "t1", "status": "WAITING_FOR_DEPOSIT"}
    issue["transactionAt"] = "2026-12-02T10:00:00+09:00"
    paid = {**row, "transactionKey": "t2", "status": "DONE"}
    paid["transactionAt"] = "2026-12-02T15:00:00+09:00"
    gateways = copy.deepcopy(settings.PAYMENT_GATEWAYS)
    gateways["toss"].update(API_BASE="http://toss.test", RECONCILE_PAGE_SIZE=1)
    settings.PAYMENT_GATEWAYS = gateways
    responses.get("http://toss.test/v1/transactions", json=[issue])
    responses.get("http://toss.test/v1/transactions", json=[paid])
    responses.get("http://toss.test/v1/transactions", json=[])

    found = list(get_gateway("toss").day_transactions(date(2026, 12, 2)))

    assert [(t.transaction_key, t.kind, t.amount) for t in found] == [("t2", "APPROVAL", 11111)]
    # The issue's row was read, so the next page starts after it.
    assert "startingAfter=t1" in responses.calls[1].request.url
    assert "startingAfter=t2" in responses.calls[2].request.url


# --- NicePay -------------------------------------------------------------------------------


def nice_answer(settings, *, status="paid", **overrides) -> dict:
    """The sandbox's response object for a NicePay card payment."""
    payment = NicePayment(
        tid="nictest00m01012612021200001234",
        order_id="ord-123456",
        amount=15000,
        goods_name="t-shirt",
        client_key=settings.PAYMENT_GATEWAYS["nicepay"]["CLIENT_KEY"],
        status=status,
        authenticated_at=NOW,
        auth_token="NICEUNTT1234",
        balance=15000,
        paid_at=NOW if status == "paid" else None,
        approve_no="30001234",
    )
    body = nice_json(
        payment,
        secret_key=settings.PAYMENT_GATEWAYS["nicepay"]["SECRET_KEY"],
        result_code="0000",
        result_msg="ok",
    )
    body.update(overrides)
    return body


@responses.activate
def test_a_nicepay_card_payment_reads_its_card(at, settings):
    answer = nice_answer(settings)
    responses.post(f"http://nice.test/v1/payments/{answer['tid']}", json=answer)
    request = ConfirmRequest(
        order_id="ord-123456", payment_key=answer["tid"], amount=15000, idempotency_key="k"
    )

    payment = at("nicepay", "http://nice.test").confirm(request)

    assert payment.status == PgStatus.APPROVED
    details = payment.details
    assert (details.method, details.card_company) == (PayMethod.CARD, "삼성")
    assert details.card_number == "536112******1234" and details.card_type == CardType.CREDIT
    assert details.approval_number == "30001234" and details.installment_months == 0
    assert details.receipt_url == answer["receiptUrl"]
    assert nowhere(answer["signature"], payment.raw)  # checked, then not kept


@responses.activate
def test_a_nicepay_virtual_account_ready_awaits_its_deposit(at, settings):
    answer = nice_answer(
        settings,
        status="authenticated",  # the sandbox shows it as "ready"
        payMethod="vbank",
        card=None,
        receiptUrl=None,
        vbank={
            "vbankCode": "004",
            "vbankName": "국민",
            "vbankNumber": "90712345678901",
            "vbankExpDate": "2026-12-09T23:59:59.000+0900",
            "vbankHolder": "우리상점",
        },
        cashReceipts=[
            {"receiptTid": "r1", "status": "issueFailed", "receiptType": "company"},
            {
                "receiptTid": "r2",
                "status": "issued",
                "receiptType": "individual",
                "issueNo": "987654321",
                "receiptUrl": "https://npg.nicepay.co.kr/issue/cash",
            },
        ],
    )
    assert answer["status"] == "ready"
    responses.get(f"http://nice.test/v1/payments/{answer['tid']}", json=answer)

    payment = at("nicepay", "http://nice.test").get_payment(answer["tid"])

    assert payment.status == PgStatus.AWAITING_DEPOSIT
    details = payment.details
    assert details.method == PayMethod.VIRTUAL_ACCOUNT and details.card_number is None
    account = details.virtual_account
    assert (account.bank_code, account.bank_name, account.holder_name) == (
        "004",
        "국민",
        "우리상점",
    )
    assert account.account_number == "90712345678901" and account.expired is False
    assert account.due_date == datetime(2026, 12, 9, 23, 59, 59, tzinfo=KST)
    cash = details.cash_receipt
    assert (cash.type, cash.issue_number) == (CashReceiptType.INCOME_DEDUCTION, "987654321")


@responses.activate
def test_a_nicepay_card_still_ready_is_pending(at, settings):
    answer = nice_answer(settings, status="authenticated")
    responses.get(f"http://nice.test/v1/payments/{answer['tid']}", json=answer)

    payment = at("nicepay", "http://nice.test").get_payment(answer["tid"])

    assert payment.status == PgStatus.PENDING


@responses.activate
@pytest.mark.parametrize(
    "pay_method, method, provider",
    [
        ("naverpay", PayMethod.EASY_PAY, "네이버페이"),
        ("kakaopay", PayMethod.EASY_PAY, "카카오페이"),
        ("bank", PayMethod.TRANSFER, None),
        ("cellphone", PayMethod.MOBILE, None),
        ("giftcard", PayMethod.OTHER, None),
    ],
)
def test_nicepay_methods_are_normalised(at, settings, pay_method, method, provider):
    answer = nice_answer(settings, payMethod=pay_method)
    responses.get(f"http://nice.test/v1/payments/{answer['tid']}", json=answer)

    details = at("nicepay", "http://nice.test").get_payment(answer["tid"]).details

    assert (details.method, details.easy_pay_provider) == (method, provider)


@responses.activate
def test_a_nicepay_cancel_sends_the_refund_account_with_the_kftc_code(at, settings):
    answer = nice_answer(settings)
    responses.post(f"http://nice.test/v1/payments/{answer['tid']}/cancel", json=answer)
    request = CancelRequest(
        order_id="ord-123456",
        payment_key=answer["tid"],
        reason="refund",
        amount=None,
        idempotency_key="refund-1",
        refund_account=RefundAccount("06", REFUND_NUMBER, "김나이스"),
    )

    at("nicepay", "http://nice.test").cancel(request)

    sent = json.loads(responses.calls[0].request.body)
    assert (sent["refundAccount"], sent["refundBankCode"], sent["refundHolder"]) == (
        REFUND_NUMBER,
        "004",
        "김나이스",
    )


@responses.activate
def test_a_refund_account_nicepay_cannot_take_is_refused_before_sending(at):
    request = CancelRequest(
        order_id="ord-123456",
        payment_key="nictest00m01012612021200001234",
        reason="refund",
        amount=None,
        idempotency_key="refund-1",
        refund_account=RefundAccount("88", "1" * 17, "김나이스"),
    )

    with pytest.raises(errors.Rejected) as caught:
        at("nicepay", "http://nice.test").cancel(request)

    assert caught.value.code == "INVALID_REFUND_ACCOUNT" and not responses.calls


# --- KakaoPay ------------------------------------------------------------------------------


def kakao_payment(method: str) -> KakaoPayment:
    payment = KakaoPayment(
        tid="T1234567890123456789",
        cid="TC0ONETIME",
        partner_order_id="ord-123456",
        partner_user_id="42",
        item_name="t-shirt",
        quantity=1,
        total=15000,
        tax_free=0,
        vat=1364,
        approval_url="http://shop.test/ok",
        cancel_url="http://shop.test/cancel",
        fail_url="http://shop.test/fail",
        created_at=NOW.astimezone(UTC),
        install_month=2,
        status="SUCCESS_PAYMENT",
        method=method,
        approved_at=NOW,
        approved_id="38867510",
    )
    payment.actions.append(Action("A1234567890123456789", "PAYMENT", NOW, 15000, 0, 1364))
    return payment


def kakao_confirm() -> ConfirmRequest:
    return ConfirmRequest(
        order_id="ord-123456",
        payment_key="T1234567890123456789",
        amount=15000,
        idempotency_key="k",
        auth_token="pgtoken123",
        buyer_ref="42",
    )


@responses.activate
def test_a_kakaopay_card_approval_reads_its_card(at):
    responses.post(
        "http://kakao.test/online/v1/payment/approve", json=approve_json(kakao_payment("CARD"))
    )

    payment = at("kakaopay", "http://kakao.test").confirm(kakao_confirm())

    assert payment.status == PgStatus.APPROVED
    assert payment.details == PaymentDetails(
        method=PayMethod.EASY_PAY,
        easy_pay_provider="카카오페이",
        card_company="수협은행",
        card_type=CardType.CHECK,
        installment_months=2,
        approval_number="38867510",
    )
    assert payment.raw["tid"] == "T1234567890123456789"  # the payment's key: kept


@responses.activate
def test_a_kakaopay_money_approval_has_no_card(at):
    responses.post(
        "http://kakao.test/online/v1/payment/approve", json=approve_json(kakao_payment("MONEY"))
    )

    payment = at("kakaopay", "http://kakao.test").confirm(kakao_confirm())

    assert payment.details == PaymentDetails(
        method=PayMethod.EASY_PAY, easy_pay_provider="카카오페이"
    )


@responses.activate
def test_a_kakaopay_order_lookup_reads_the_selected_card(at):
    responses.post(
        "http://kakao.test/online/v1/payment/order", json=order_json(kakao_payment("CARD"))
    )

    details = at("kakaopay", "http://kakao.test").get_payment("T1234567890123456789").details

    assert details.method == PayMethod.EASY_PAY and details.card_company == "수협은행"
    assert details.installment_months == 2 and details.approval_number is None


def test_a_deposit_callback_carries_its_secret_for_the_app_to_compare(at):
    notice = at("toss", "http://toss.test").parse_webhook(deposit())

    assert notice.secret == SECRET and SECRET not in repr(notice)

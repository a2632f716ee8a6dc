"""NicePay behind the PaymentGateway interface.

Where NicePay differs from Toss, it is handled here and nowhere else:
- the payment's key is NicePay's tid (the window posts it to the shop's returnUrl);
- no idempotency key: a repeated approve answers 2201, which becomes a lookup by tid;
  the payment it finds is judged by the caller like any other (same amount, or not
  a success);
- an approve whose answer was lost is looked up, and if NicePay has not approved it,
  net-cancelled (docs/pg.md, NicePay: idempotency and net cancel), so a late approval
  cannot land after we gave up;
- lookups by orderId need the order's date;
- every approval's signature is checked: hex(sha256(tid + amount + ediDate + secretKey)).
"""

from datetime import datetime, timedelta, timezone

from gateways import errors
from gateways.base import PaymentGateway, webhook_json
from gateways.details import (
    bank,
    bank_name,
    card_type,
    mask_card_number,
    moment,
    redacted,
    text,
    whole,
)
from gateways.errors import RAISES, ErrorClass, override
from gateways.http import PgResponse
from gateways.nicepay.client import NicePayClient, sign
from gateways.types import (
    CancelRequest,
    CashReceipt,
    CashReceiptType,
    ConfirmRequest,
    GatewayCancel,
    GatewayPayment,
    PaymentDetails,
    PaymentRef,
    PayMethod,
    PgStatus,
    RefundAccount,
    VirtualAccount,
    WebhookNotice,
    cancel_note,
)

KST = timezone(timedelta(hours=9))
REFUND_ACCOUNT_MAX, REFUND_HOLDER_MAX = 16, 10  # cancel's refundAccount, refundHolder (2.2)
SUCCESS = {"0000", "2001", "2211"}
STATUSES = {
    "ready": PgStatus.PENDING,
    "paid": PgStatus.APPROVED,
    "partialCancelled": PgStatus.PARTIALLY_CANCELED,
    "cancelled": PgStatus.CANCELED,
    "failed": PgStatus.FAILED,
    "expired": PgStatus.EXPIRED,
}


# How to read NicePay result codes: data (docs/pg.md, NicePay: result codes), into the
# classes of gateways.errors. NicePay has no idempotency key, but an approval is bound to
# its tid: repeating an approve that went through answers 2201, which the gateway turns
# into a lookup. So repeating is safe, and codes whose outcome is unknown are RETRY here.
R, F, U, A = ErrorClass.RETRY, ErrorClass.FAIL, ErrorClass.UNKNOWN, ErrorClass.ALREADY_DONE

_TRANSIENT = {
    "2159",
    "4001",
    "4008",
    "A246",
    "V003",
    "A299",
    "U303",
    "A226",
    "A401",
    "U501",
    "U508",
    "A304",
    "A306",
    "A402",
    "U506",
    "U507",
    "2000",
    "P026",
    "P027",
    "9002",
    "S999",
}
_CONFIG = {"U104", "U304", "U305", "U315", "A224"}
_NOT_FOUND = {"A118", "A251", "U107", "U111"}

APPROVE = {
    **dict.fromkeys(_TRANSIENT, R),
    **dict.fromkeys(_CONFIG, U),
    **dict.fromkeys(_NOT_FOUND, F),
    **dict.fromkeys(["2201", "2156", "A225", "U114", "A127", "U112", "P015"], A),
    **dict.fromkeys(["A123", "A245", "P034", "U127", "A116"], F),
}
LOOKUP = {**dict.fromkeys(_TRANSIENT, R), **dict.fromkeys(_CONFIG, U)}
CANCEL = {
    **dict.fromkeys(_TRANSIENT, R),
    **dict.fromkeys(_CONFIG, U),
    **dict.fromkeys(["2013", "2015"], A),
}
TABLES = {"approve": APPROVE, "lookup": LOOKUP, "cancel": CANCEL, "netcancel": CANCEL}
NOT_FOUND = _NOT_FOUND


def classify(operation: str, code: str, http_status: int) -> ErrorClass:
    known = override("nicepay", operation, code) or TABLES[operation].get(code)
    if known is not None:
        return known
    if code.startswith("3"):  # 3011-3095: card-side refusals
        return F
    return R if http_status >= 500 else F


class NicePayGateway(PaymentGateway):
    reconciles_from_file = True  # no settlement API: the merchant site's download

    def __init__(self, code: str, config: dict):
        super().__init__(code, config)
        self.client = NicePayClient(
            api_base=config["API_BASE"],
            client_key=config["CLIENT_KEY"],
            secret_key=config["SECRET_KEY"],
            connect_timeout=config["CONNECT_TIMEOUT"],
            read_timeout=config["READ_TIMEOUT"],
        )

    def client_config(self) -> dict:
        return {"clientKey": self.config["CLIENT_KEY"]}

    def merchant_id(self) -> str:
        return self.config["CLIENT_KEY"]  # what NicePay's records name the merchant by

    def confirm(self, request: ConfirmRequest) -> GatewayPayment:
        tid = request.payment_key
        try:
            response = self.client.approve(
                tid=tid, order_id=request.order_id, amount=request.amount
            )
            return self._payment_or_raise(response, "approve")
        except errors.AlreadyProcessed:
            return self.get_payment(tid)  # 2201: what did the first approve do?
        except errors.OutcomeUnknown as unknown:
            if unknown.code not in ("READ_TIMEOUT", "CONNECTION_LOST"):
                raise
            return self._settle_lost_approval(request, unknown)

    def _settle_lost_approval(
        self, request: ConfirmRequest, unknown: errors.OutcomeUnknown
    ) -> GatewayPayment:
        try:
            found = self.get_payment(request.payment_key)
        except errors.GatewayError:
            raise unknown from None
        if found.status != PgStatus.PENDING:
            # approved, refused, or a virtual account issued (AWAITING_DEPOSIT) after all:
            # the caller judges it; only a payment still "ready" without a vbank is undone
            return found
        try:
            self._payment_or_raise(self.client.netcancel(order_id=request.order_id), "netcancel")
        except errors.GatewayError:
            raise unknown from None
        raise errors.Rejected(
            "the approval was not confirmed and was net-cancelled",
            gateway=self.code,
            operation="approve",
            code="NET_CANCELLED",
        )

    def cancel(self, request: CancelRequest) -> GatewayPayment:
        response = self.client.cancel(
            tid=request.payment_key,
            order_id=request.order_id,
            cancel_order_id=request.idempotency_key[:64],
            reason=cancel_note(request.reason, request.idempotency_key, 100),
            amount=request.amount,
            refund=self._refund_fields(request.refund_account),
        )
        return self._payment_or_raise(response, "cancel")

    def _refund_fields(self, account: RefundAccount | None) -> dict | None:
        """refundAccount (at most 16), refundBankCode (3 digits), refundHolder (at most 10)
        of the cancel (2.2): NicePay's limits are tighter than Toss's, so an account that
        does not fit is refused here, before anything is sent."""
        if account is None:
            return None
        if len(account.account_number) > REFUND_ACCOUNT_MAX or len(account.holder_name) > (
            REFUND_HOLDER_MAX
        ):
            raise errors.Rejected(
                f"NicePay takes refund accounts of at most {REFUND_ACCOUNT_MAX} digits and "
                f"holders of at most {REFUND_HOLDER_MAX} characters",
                gateway=self.code,
                operation="cancel",
                code="INVALID_REFUND_ACCOUNT",
            )
        return {
            "refundAccount": account.account_number,
            "refundBankCode": bank(account.bank_code).kftc,
            "refundHolder": account.holder_name,
        }

    def get_payment(self, payment_key: str) -> GatewayPayment:
        return self._payment_or_raise(self.client.get(payment_key), "lookup")

    def get_payment_by_order_id(
        self, order_id: str, ordered_at: datetime | None = None
    ) -> GatewayPayment:
        day = (ordered_at or datetime.now(KST)).astimezone(KST).strftime("%Y%m%d")
        return self._payment_or_raise(self.client.find(order_id, day), "lookup")

    def lookup(self, ref: PaymentRef) -> GatewayPayment:
        if ref.payment_key:
            return self.get_payment(ref.payment_key)
        return self.get_payment_by_order_id(ref.order_id, ref.created_at)

    def parse_webhook(self, body: bytes) -> WebhookNotice:
        """The response object of 2.3, posted on approval and cancel (2.7)."""
        payment = webhook_json(body, "tid", "orderId", "status")
        identity = (payment["tid"], payment["status"], str(payment.get("cancelledTid") or ""))
        return WebhookNotice(
            event_key=":".join(identity)[:255],
            event_type="STATUS",
            order_id=payment["orderId"][:64],
            pg_status=payment["status"][:32],
            payload=redacted(payment),  # no signature kept
        )

    def webhook_ack(self) -> tuple[str, str]:
        return "OK", "text/html"  # anything else counts as a failed delivery (U338)

    def _payment_or_raise(self, response: PgResponse, operation: str) -> GatewayPayment:
        body = response.body if isinstance(response.body, dict) else {}
        code = str(body.get("resultCode") or f"HTTP_{response.status}")
        kwargs = {
            "gateway": self.code,
            "operation": operation,
            "code": code,
            "http_status": response.status,
        }
        if response.status == 200 and code in SUCCESS:
            try:
                return self._payment(body)
            except (KeyError, TypeError, ValueError) as exc:
                raise errors.OutcomeUnknown(
                    f"unreadable NicePay answer: {exc!r}", **kwargs
                ) from exc
        message = str(body.get("resultMsg", ""))
        if operation == "lookup" and code in NOT_FOUND:
            raise errors.PaymentNotFound(message, **kwargs)
        raise RAISES[classify(operation, code, response.status)](message, **kwargs)

    def _payment(self, body: dict) -> GatewayPayment:
        status = STATUSES[body["status"]]
        if status == PgStatus.PENDING and body.get("payMethod") == "vbank":
            status = PgStatus.AWAITING_DEPOSIT  # "ready" of a vbank: issued, not paid in
        amount = int(body["amount"])
        if status in (PgStatus.APPROVED, PgStatus.PARTIALLY_CANCELED, PgStatus.CANCELED):
            expected = sign(body["tid"], amount, body["ediDate"], self.config["SECRET_KEY"])
            if body.get("signature") != expected:
                raise ValueError("the signature does not verify")
        paid_at = body.get("paidAt")
        return GatewayPayment(
            gateway=self.code,
            order_id=str(body["orderId"]),
            payment_key=str(body["tid"]),
            status=status,
            raw_status=body["status"],
            total_amount=amount,
            balance_amount=int(body.get("balanceAmt", amount)),
            approved_at=datetime.fromisoformat(paid_at) if paid_at and paid_at != "0" else None,
            last_transaction_key=body.get("cancelledTid") or body.get("tid"),
            cancels=tuple(
                GatewayCancel(str(c.get("tid") or ""), int(c["amount"]), c.get("reason") or "")
                for c in body.get("cancels") or []
            ),
            raw=redacted(body),
            details=_details(body),
        )


# payMethod (2.3)
PAY_METHODS = {
    "card": PayMethod.CARD,
    "vbank": PayMethod.VIRTUAL_ACCOUNT,
    "bank": PayMethod.TRANSFER,
    "cellphone": PayMethod.MOBILE,
}
EASY_PAY_PROVIDERS = {
    "naverpay": "네이버페이",
    "kakaopay": "카카오페이",
    "payco": "페이코",
    "ssgpay": "SSG페이",
    "samsungpay": "삼성페이",
}
# cashReceipts[].receiptType: the manual's values are not documented (docs/pg.md); these
# are NicePay's request values for 소득공제 and 지출증빙 (not confirmed for the answer).
CASH_RECEIPT_TYPES = {
    "individual": CashReceiptType.INCOME_DEDUCTION,
    "company": CashReceiptType.EXPENSE_PROOF,
}


def _details(body: dict) -> PaymentDetails:
    """What the buyer paid with, from the response object (2.3). Display fields: one that
    is missing or malformed is None, never a reason to refuse the answer."""
    card = body.get("card") if isinstance(body.get("card"), dict) else {}
    vbank = body.get("vbank") if isinstance(body.get("vbank"), dict) else {}
    method = text(body.get("payMethod"))
    return PaymentDetails(
        method=_method(method),
        card_company=text(card.get("cardName")) or text(card.get("cardCode")),
        card_number=mask_card_number(text(card.get("cardNum"))),
        card_type=card_type(card.get("cardType")),
        installment_months=whole(card.get("cardQuota")),
        approval_number=text(body.get("approveNo")),
        easy_pay_provider=EASY_PAY_PROVIDERS.get(method.casefold()) if method else None,
        receipt_url=text(body.get("receiptUrl"), 2000),
        cash_receipt=_cash_receipt(body.get("cashReceipts")),
        virtual_account=_virtual_account(vbank, body.get("status")) if vbank else None,
    )


def _method(method: str | None) -> str | None:
    if method is None:
        return None
    if method.casefold() in EASY_PAY_PROVIDERS:
        return PayMethod.EASY_PAY
    return PAY_METHODS.get(method.casefold(), PayMethod.OTHER)


def _cash_receipt(receipts) -> CashReceipt | None:
    """The newest issued receipt of cashReceipts[], else the newest of any status."""
    receipts = [r for r in receipts if isinstance(r, dict)] if isinstance(receipts, list) else []
    if not receipts:
        return None
    issued = [r for r in receipts if r.get("status") == "issued"]
    receipt = (issued or receipts)[-1]
    kind = text(receipt.get("receiptType"))
    return CashReceipt(
        type=CASH_RECEIPT_TYPES.get(kind.casefold(), CashReceiptType.OTHER) if kind else None,
        receipt_url=text(receipt.get("receiptUrl"), 2000),
        issue_number=text(receipt.get("issueNo")),
    )


def _virtual_account(vbank: dict, status) -> VirtualAccount:
    code = text(vbank.get("vbankCode"))
    return VirtualAccount(
        bank_code=code,
        bank_name=text(vbank.get("vbankName")) or bank_name(code),
        account_number=text(vbank.get("vbankNumber")),
        holder_name=text(vbank.get("vbankHolder")),
        due_date=moment(vbank.get("vbankExpDate")),
        # NicePay has no "expired" flag on the account: the payment's status says it.
        expired=status == "expired",
    )

"""KakaoPay behind the PaymentGateway interface.

Where KakaoPay differs, it is handled here: checkout's ready call (made by `prepare`,
outside any transaction) gets the tid that identifies the payment from then on; the
shop's confirm brings the one-time pg_token, and our confirm is KakaoPay's approve. There
is no idempotency header: an approve whose answer was lost is settled by the order
lookup (docs/pg.md, KakaoPay: idempotency), and a second approve of an approved tid is
refused, which becomes that same lookup. Lookups need the tid.
"""

from datetime import datetime, timedelta, timezone

from gateways import errors
from gateways.base import PaymentGateway
from gateways.details import card_type, redacted, text, whole
from gateways.errors import RAISES, override
from gateways.http import PgResponse
from gateways.kakaopay.client import KakaoPayClient
from gateways.types import (
    CancelRequest,
    ConfirmRequest,
    GatewayCancel,
    GatewayPayment,
    PaymentDetails,
    PaymentRef,
    PayMethod,
    PgStatus,
    Prepared,
    PrepareRequest,
)

KST = timezone(timedelta(hours=9))
STATUSES = {
    **dict.fromkeys(
        ["READY", "SEND_TMS", "OPEN_PAYMENT", "SELECT_METHOD", "ARS_WAITING", "AUTH_PASSWORD"],
        PgStatus.PENDING,
    ),
    "SUCCESS_PAYMENT": PgStatus.APPROVED,
    "PART_CANCEL_PAYMENT": PgStatus.PARTIALLY_CANCELED,
    "CANCEL_PAYMENT": PgStatus.CANCELED,
    **dict.fromkeys(["FAIL_AUTH_PASSWORD", "QUIT_PAYMENT", "FAIL_PAYMENT"], PgStatus.FAILED),
}
# A refused approve: -780 is KakaoPay's documented "approval failure" (card or money
# provider said no). Other negative codes are refusals of the request itself, except the
# ones that mean "already approved", which become a lookup. The numbers beyond -780 are
# not confirmed (docs/pg.md, KakaoPay: errors); operators can override them with
# PAYMENT_ERROR_OVERRIDES "kakaopay:approve:CODE=CLASS".
ALREADY_APPROVED = {"-702"}


class KakaoPayGateway(PaymentGateway):
    prepares = True  # ready: gets the tid and the window's URL
    confirm_sends_token = True  # the shop's confirm carries pg_token; the tid came from ready
    reconciles_from_file = True  # KakaoPay publishes no settlement API at all

    def __init__(self, code: str, config: dict):
        super().__init__(code, config)
        self.client = KakaoPayClient(
            api_base=config["API_BASE"],
            secret_key=config["SECRET_KEY"],
            cid=config["CID"],
            connect_timeout=config["CONNECT_TIMEOUT"],
            read_timeout=config["READ_TIMEOUT"],
        )

    def merchant_id(self) -> str:
        return self.config["CID"]  # every payment of ours is made under this cid

    def prepare(self, request: PrepareRequest) -> Prepared:
        response = self.client.ready(
            order_id=request.order_id,
            user_id=request.buyer_ref,
            item_name=request.order_name,
            quantity=request.quantity,
            total_amount=request.amount,
            approval_url=request.approval_url,
            cancel_url=request.cancel_url,
            fail_url=request.fail_url,
        )
        body = self._body_or_raise(response, "ready", request.order_id)
        try:
            return Prepared(
                payment_key=str(body["tid"]), redirect_url=str(body["next_redirect_pc_url"])
            )
        except KeyError as exc:
            raise errors.Rejected(
                "KakaoPay ready gave no tid",
                gateway=self.code,
                operation="ready",
                code="UNREADABLE_RESPONSE",
                http_status=response.status,
            ) from exc

    def confirm(self, request: ConfirmRequest) -> GatewayPayment:
        ref = PaymentRef(
            order_id=request.order_id, payment_key=request.payment_key, created_at=datetime.now(KST)
        )
        try:
            response = self.client.approve(
                tid=request.payment_key,
                order_id=request.order_id,
                user_id=request.buyer_ref,
                pg_token=request.auth_token or "",
                total_amount=request.amount,
            )
            body = self._body_or_raise(response, "approve", request.order_id)
        except errors.AlreadyProcessed:
            return self.lookup(ref)
        except errors.OutcomeUnknown as unknown:
            if unknown.code not in ("READ_TIMEOUT", "CONNECTION_LOST"):
                raise
            try:
                return self.lookup(ref)  # the approve may have landed: the order lookup knows
            except errors.GatewayError:
                raise unknown from None
        return self._approved(body)

    def cancel(self, request: CancelRequest) -> GatewayPayment:
        # request.refund_account is not sent: KakaoPay has no virtual accounts, and its
        # cancel refunds to the money or card the buyer paid with (docs/pg.md).
        amount = request.amount
        if amount is None:  # KakaoPay wants an amount: everything that is left
            current = self.get_payment(request.payment_key)
            amount = current.balance_amount
        response = self.client.cancel(
            tid=request.payment_key,
            order_id=request.order_id,
            amount=amount,
            available=request.expected_balance,
            payload=request.idempotency_key,
        )
        return self._order(self._body_or_raise(response, "cancel", request.order_id))

    def get_payment(self, payment_key: str) -> GatewayPayment:
        return self._order(self._body_or_raise(self.client.order(tid=payment_key), "lookup", None))

    def get_payment_by_order_id(self, order_id: str) -> GatewayPayment:
        raise errors.PaymentNotFound(
            "KakaoPay looks payments up by tid only",
            gateway=self.code,
            operation="lookup",
            code="NO_TID",
        )

    def lookup(self, ref: PaymentRef) -> GatewayPayment:
        if not ref.payment_key:  # ready never answered: KakaoPay has nothing we can find
            return self.get_payment_by_order_id(ref.order_id)
        return self.get_payment(ref.payment_key)

    def _body_or_raise(self, response: PgResponse, operation: str, order_id: str | None) -> dict:
        body = response.body if isinstance(response.body, dict) else {}
        if response.status == 200:
            return body
        code = str(body.get("error_code", f"HTTP_{response.status}"))
        message = str(body.get("error_message", ""))
        extras = body.get("extras") or {}
        if extras.get("method_result_code"):
            provider = f"{extras['method_result_code']}: {extras.get('method_result_message', '')}"
            message = f"{message} ({provider})"
        kwargs = {
            "gateway": self.code,
            "operation": operation,
            "code": code,
            "http_status": response.status,
        }
        raise self._error_class(operation, code, response.status)(message, **kwargs)

    def _error_class(self, operation: str, code: str, status: int) -> type[errors.GatewayError]:
        chosen = override("kakaopay", operation, code)
        if chosen is not None:
            return RAISES[chosen]
        if status in (401, 403):
            return errors.OutcomeUnknown  # our keys or cid: a person must fix the setup
        if status >= 500:
            return errors.Retryable
        if operation == "approve" and code in ALREADY_APPROVED:
            return errors.AlreadyProcessed
        if operation == "lookup":
            return errors.PaymentNotFound
        return errors.Rejected

    def _approved(self, body: dict) -> GatewayPayment:
        try:
            amount = int(body["amount"]["total"])
            return GatewayPayment(
                gateway=self.code,
                order_id=str(body["partner_order_id"]),
                payment_key=str(body["tid"]),
                status=PgStatus.APPROVED,
                raw_status="SUCCESS_PAYMENT",
                total_amount=amount,
                balance_amount=amount,
                approved_at=_when(body.get("approved_at")),
                raw=redacted(body),
                details=_details(body),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.OutcomeUnknown(
                f"unreadable KakaoPay approval: {exc!r}",
                gateway=self.code,
                operation="approve",
                code="UNREADABLE_RESPONSE",
            ) from exc

    def _order(self, body: dict) -> GatewayPayment:
        try:
            total = int(body["amount"]["total"])
            available = body.get("cancel_available_amount") or {}
            return GatewayPayment(
                gateway=self.code,
                order_id=str(body["partner_order_id"]),
                payment_key=str(body["tid"]),
                status=STATUSES[body["status"]],
                raw_status=body["status"],
                total_amount=total,
                balance_amount=int(available.get("total", total)),
                approved_at=_when(body.get("approved_at")),
                # a cancel's answer names the cancel (aid); an order lookup does not
                last_transaction_key=body.get("aid"),
                cancels=tuple(
                    _cancel(a)
                    for a in body.get("payment_action_details") or []
                    if a.get("payment_action_type") == "CANCEL"
                ),
                raw=redacted(body),
                details=_details(body),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.OutcomeUnknown(
                f"unreadable KakaoPay order: {exc!r}",
                gateway=self.code,
                operation="lookup",
                code="UNREADABLE_RESPONSE",
            ) from exc


EASY_PAY_PROVIDER = "카카오페이"


def _details(body: dict) -> PaymentDetails:
    """What the buyer paid with: always KakaoPay (an easy pay), with its money (MONEY) or
    a card (CARD). The approve answer has card_info, the order lookup selected_card_info;
    neither carries a card number (only its BIN), a receipt URL or a cash receipt."""
    method_type = text(body.get("payment_method_type"))
    if method_type is None:  # the buyer has not chosen yet (READY ... AUTH_PASSWORD)
        return PaymentDetails()
    if method_type != "CARD":
        return PaymentDetails(method=PayMethod.EASY_PAY, easy_pay_provider=EASY_PAY_PROVIDER)
    card = body.get("card_info") if isinstance(body.get("card_info"), dict) else {}
    chosen = body.get("selected_card_info")
    chosen = chosen if isinstance(chosen, dict) else {}
    return PaymentDetails(
        method=PayMethod.EASY_PAY,
        easy_pay_provider=EASY_PAY_PROVIDER,
        card_company=text(card.get("kakaopay_issuer_corp"))
        or text(chosen.get("card_corp_name"))
        or text(card.get("kakaopay_issuer_corp_code")),
        card_type=card_type(card.get("card_type")),
        installment_months=whole(card.get("install_month", chosen.get("install_month"))),
        approval_number=text(card.get("approved_id")),
    )


def _cancel(action: dict) -> GatewayCancel:
    """A CANCEL line of payment_action_details; its amount is a number or an amount
    object ({total, ...})."""
    amount = action["amount"]
    total = int(amount["total"] if isinstance(amount, dict) else amount)
    return GatewayCancel(str(action.get("aid") or ""), total, action.get("payload") or "")


def _when(value) -> datetime | None:
    """KakaoPay times carry no offset; they are Korean time."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=KST)

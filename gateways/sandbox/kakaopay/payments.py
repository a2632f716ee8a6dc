"""KakaoPay payments inside the sandbox: the statuses and the ready / approve / order /
cancel bodies of docs/pg.md (KakaoPay: statuses; KakaoPay: endpoints we call).

READY -(SEND_TMS)-> OPEN_PAYMENT -> SELECT_METHOD -(ARS_WAITING)-> AUTH_PASSWORD (pg_token)
AUTH_PASSWORD --approve--> SUCCESS_PAYMENT --cancel--> PART_CANCEL_PAYMENT | CANCEL_PAYMENT
any step before AUTH_PASSWORD --buyer quits--> QUIT_PAYMENT | --password fails--> FAIL_AUTH_PASSWORD
AUTH_PASSWORD --declined at approve (-780)--> FAIL_PAYMENT

A tid not approved within the ready window (15 minutes by default, on the sandbox clock;
the real lifetime is not documented: docs/pg.md, What is not confirmed) can no longer be
authenticated or approved (-723); its status stays what it was, as the order lookup
shows it.
"""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

from gateways.sandbox.clock import KST, Clock
from gateways.sandbox.kakaopay.errors import KakaoFailure

STATUSES = (
    "READY",
    "SEND_TMS",
    "OPEN_PAYMENT",
    "SELECT_METHOD",
    "ARS_WAITING",
    "AUTH_PASSWORD",
    "SUCCESS_PAYMENT",
    "PART_CANCEL_PAYMENT",
    "CANCEL_PAYMENT",
    "FAIL_AUTH_PASSWORD",
    "QUIT_PAYMENT",
    "FAIL_PAYMENT",
)
BEFORE_AUTH = ("READY", "SEND_TMS", "OPEN_PAYMENT", "SELECT_METHOD", "ARS_WAITING")
APPROVED = ("SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT", "CANCEL_PAYMENT")
FAILED = ("FAIL_AUTH_PASSWORD", "QUIT_PAYMENT", "FAIL_PAYMENT")
READY_WINDOW = timedelta(minutes=15)
ALREADY_APPROVED_CODE = -702  # not confirmed (old API table, third-party copies)
DECLINE_REASONS = {
    "USER_LOCKED": "다른 거래가 진행 중입니다. 잠시 후 다시 시도해주세요.",
    "LACK_BALANCE": "잔액이 부족합니다.",
    "8326": "한도를 초과했습니다.",
}
DEFAULT_DECLINE_MESSAGE = "결제 수단사에서 승인을 거절했습니다."
# Test card data, shaped as the docs' example (values are the sandbox's own).
CARD = {
    "kakaopay_purchase_corp": "비씨카드",
    "kakaopay_purchase_corp_code": "104",
    "kakaopay_issuer_corp": "수협은행",
    "kakaopay_issuer_corp_code": "212",
    "bin": "621640",
    "card_type": "체크",
    "card_mid": "123456789",
    "interest_free_install": "N",
    "installment_type": "CARD_INSTALLMENT",
    "card_item_code": "",
}


@dataclass
class Action:
    """One line of payment_action_details: the approval or one cancel."""

    aid: str
    kind: str  # PAYMENT | CANCEL
    at: datetime
    amount: int
    tax_free: int
    vat: int
    green_deposit: int = 0
    payload: str | None = None


@dataclass
class KakaoPayment:
    tid: str
    cid: str
    partner_order_id: str
    partner_user_id: str
    item_name: str
    quantity: int
    total: int
    tax_free: int
    vat: int
    approval_url: str
    cancel_url: str
    fail_url: str
    created_at: datetime
    item_code: str | None = None
    green_deposit: int = 0
    install_month: int = 0
    requested_method: str | None = None  # payment_method_type asked for at ready
    status: str = "READY"
    method: str | None = None  # CARD | MONEY, once the buyer chose it
    pg_token: str | None = None
    pg_token_used: bool = False
    authenticated_at: datetime | None = None
    approved_at: datetime | None = None
    canceled_at: datetime | None = None
    approved_id: str | None = None
    failure: dict | None = None  # extras of a decline
    actions: list[Action] = field(default_factory=list)
    approve_calls: int = 0  # approves that reached this tid
    approvals: int = 0  # times it became SUCCESS_PAYMENT: more than 1 would be a double charge
    cancel_calls: int = 0

    @property
    def canceled(self) -> tuple[int, int, int]:
        """(total, tax_free, vat) cancelled so far."""
        cancels = [a for a in self.actions if a.kind == "CANCEL"]
        return (
            sum(a.amount for a in cancels),
            sum(a.tax_free for a in cancels),
            sum(a.vat for a in cancels),
        )

    @property
    def remaining(self) -> tuple[int, int, int]:
        """(total, tax_free, vat) still cancelable (nothing before approval)."""
        if self.status not in APPROVED:
            return (0, 0, 0)
        total, tax_free, vat = self.canceled
        return (self.total - total, self.tax_free - tax_free, self.vat - vat)


def vat_of(taxable: int) -> int:
    """round(taxable / 11), half-up: the default vat_amount of ready and cancel."""
    return int((Decimal(taxable) / 11).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


class KakaoLedger:
    def __init__(
        self,
        clock: Clock,
        *,
        ready_window: timedelta = READY_WINDOW,
        already_approved_code: int = ALREADY_APPROVED_CODE,
    ):
        self.clock = clock
        self.ready_window = ready_window
        self.already_approved_code = already_approved_code
        self.by_tid: dict[str, KakaoPayment] = {}
        self.by_order: dict[str, KakaoPayment] = {}  # the newest tid for each partner_order_id

    # --- merchant API -----------------------------------------------------------------

    def ready(self, **fields) -> KakaoPayment:
        payment = KakaoPayment(tid=self._new_id("T", self.by_tid), created_at=self.now(), **fields)
        self.by_tid[payment.tid] = payment
        self.by_order[payment.partner_order_id] = payment
        return payment

    def find(self, cid: str, tid: str) -> KakaoPayment:
        """A merchant sees only its own tids: another cid's tid is not found."""
        payment = self.by_tid.get(tid)
        if payment is None or payment.cid != cid:
            raise KakaoFailure(-721)
        return payment

    def approve(
        self,
        *,
        cid: str,
        tid: str,
        partner_order_id: str,
        partner_user_id: str,
        pg_token: str,
        total_amount: int | None,
        payload: str | None,
    ) -> KakaoPayment:
        payment = self.find(cid, tid)
        payment.approve_calls += 1
        if payment.partner_order_id != partner_order_id:
            raise KakaoFailure(-706)
        if payment.partner_user_id != partner_user_id:
            raise KakaoFailure(-707)
        self.check_approvable(payment)
        if pg_token != payment.pg_token or payment.pg_token_used:
            raise KakaoFailure(-708)
        if total_amount is not None and total_amount != payment.total:
            raise KakaoFailure(-704)
        return self.record_approval(payment, payload)

    def check_approvable(self, payment: KakaoPayment) -> None:
        """Raises unless the buyer authenticated the tid (AUTH_PASSWORD) within its window."""
        if payment.status in APPROVED:
            raise KakaoFailure(self.already_approved_code, "payment already approved")
        if payment.status in FAILED:
            raise KakaoFailure(-783)
        if self.expired(payment):
            raise KakaoFailure(-723)
        if payment.status != "AUTH_PASSWORD":
            raise KakaoFailure(-701)

    def record_approval(self, payment: KakaoPayment, payload: str | None) -> KakaoPayment:
        """The approval itself, whoever asked for it (the merchant's approve or the control
        API's approve_unseen): SUCCESS_PAYMENT and its PAYMENT action."""
        now = self.now()
        payment.status = "SUCCESS_PAYMENT"
        payment.pg_token_used = True
        payment.approved_at = now
        payment.approved_id = _digits(8)
        payment.approvals += 1
        payment.actions.append(
            Action(
                aid=self._new_aid(),
                kind="PAYMENT",
                at=now,
                amount=payment.total,
                tax_free=payment.tax_free,
                vat=payment.vat,
                green_deposit=payment.green_deposit,
                payload=payload,
            )
        )
        return payment

    def decline(self, payment: KakaoPayment, reason: str) -> bool:
        """A final refusal at approve (-780): FAIL_PAYMENT. False if it was not approvable."""
        if payment.status != "AUTH_PASSWORD" or self.expired(payment):
            return False
        payment.status = "FAIL_PAYMENT"
        payment.pg_token_used = True
        payment.failure = decline_extras(reason)
        return True

    def cancel(
        self,
        *,
        cid: str,
        tid: str,
        amount: int,
        tax_free: int,
        vat: int | None,
        available: int | None,
        payload: str | None,
    ) -> tuple[KakaoPayment, Action]:
        payment = self.find(cid, tid)
        payment.cancel_calls += 1
        return self.refund(
            payment, amount=amount, tax_free=tax_free, vat=vat, available=available, payload=payload
        )

    def refund(
        self,
        payment: KakaoPayment,
        *,
        amount: int,
        tax_free: int,
        vat: int | None,
        available: int | None,
        payload: str | None,
    ) -> tuple[KakaoPayment, Action]:
        """The cancel itself, whoever asked for it (the merchant's cancel or the control
        API's dashboard_cancel); refuses before changing anything."""
        if payment.status not in ("SUCCESS_PAYMENT", "PART_CANCEL_PAYMENT"):
            raise KakaoFailure(-784)
        left, left_tax_free, left_vat = payment.remaining
        # The optimistic check of docs/pg.md, KakaoPay: idempotency.
        if available is not None and available != left:
            raise KakaoFailure(-722, "cancel_available_amount differs from the remaining amount")
        if amount > left or tax_free > left_tax_free or amount - tax_free > left - left_tax_free:
            raise KakaoFailure(-710)
        full = amount == left
        if not full and payment.green_deposit:
            raise KakaoFailure(-784, "a payment with green_deposit cannot be partially cancelled")
        if vat is None:
            vat = left_vat if full else min(vat_of(amount - tax_free), left_vat)
        elif vat > left_vat or vat > amount - tax_free:
            raise KakaoFailure(-722, "invalid cancel_vat_amount")
        now = self.now()
        action = Action(
            aid=self._new_aid(),
            kind="CANCEL",
            at=now,
            amount=amount,
            tax_free=tax_free,
            vat=vat,
            green_deposit=payment.green_deposit if full else 0,
            payload=payload,
        )
        payment.actions.append(action)
        payment.canceled_at = now
        payment.status = "CANCEL_PAYMENT" if full else "PART_CANCEL_PAYMENT"
        return payment, action

    # --- buyer side -------------------------------------------------------------------

    def progress(self, payment: KakaoPayment, status: str) -> None:
        """The buyer moves on before authenticating (SEND_TMS ... ARS_WAITING)."""
        self._open(payment)
        payment.status = status

    def authenticate(self, payment: KakaoPayment) -> str:
        """Method chosen and password entered: AUTH_PASSWORD with a one-time pg_token."""
        self._open(payment)
        payment.status = "AUTH_PASSWORD"
        payment.method = payment.requested_method or "CARD"
        payment.authenticated_at = self.now()
        payment.pg_token = secrets.token_hex(10)
        return payment.pg_token

    def give_up(self, payment: KakaoPayment, status: str) -> None:
        """The buyer quits (QUIT_PAYMENT) or fails the password (FAIL_AUTH_PASSWORD)."""
        if payment.status not in BEFORE_AUTH:
            raise KakaoFailure(-783, f"the buyer cannot leave a {payment.status} payment")
        payment.status = status

    def _open(self, payment: KakaoPayment) -> None:
        if payment.status not in BEFORE_AUTH:
            raise KakaoFailure(-783, f"the buyer cannot pay a {payment.status} payment")
        if self.expired(payment):
            raise KakaoFailure(-723)

    # --- time -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def expires_at(self, payment: KakaoPayment) -> datetime:
        return payment.created_at + self.ready_window

    def expired(self, payment: KakaoPayment) -> bool:
        return payment.status not in APPROVED and self.now() >= self.expires_at(payment)

    def sweep(self) -> None:
        """Nothing to do: an expired tid keeps its status (expiry is checked when used)."""

    def _new_aid(self) -> str:
        return self._new_id("A", {a.aid for p in self.by_tid.values() for a in p.actions})

    def _new_id(self, prefix: str, taken: Iterable[str]) -> str:
        while True:
            candidate = prefix + _digits(19)  # 20 characters, as T1234567890123456789
            if candidate not in taken:
                return candidate


def decline_extras(reason: str) -> dict:
    return {
        "method_result_code": reason,
        "method_result_message": DECLINE_REASONS.get(reason, DEFAULT_DECLINE_MESSAGE),
    }


# --- bodies ---------------------------------------------------------------------------


def stamp(moment: datetime | None) -> str | None:
    """KakaoPay's timestamps: KST, second precision, no offset (2023-07-15T21:18:22)."""
    if moment is None:
        return None
    return moment.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S")


def amount_json(total: int, tax_free: int, vat: int, green_deposit: int = 0) -> dict:
    return {
        "total": total,
        "tax_free": tax_free,
        "vat": vat,
        "point": 0,
        "discount": 0,
        "green_deposit": green_deposit,
    }


def _amount(payment: KakaoPayment) -> dict:
    return amount_json(payment.total, payment.tax_free, payment.vat, payment.green_deposit)


def _canceled_amount(payment: KakaoPayment) -> dict:
    total, tax_free, vat = payment.canceled
    deposit = payment.green_deposit if payment.status == "CANCEL_PAYMENT" else 0
    return amount_json(total, tax_free, vat, deposit)


def _available_amount(payment: KakaoPayment) -> dict:
    total, tax_free, vat = payment.remaining
    deposit = payment.green_deposit if total else 0
    return amount_json(total, tax_free, vat, deposit)


def ready_json(payment: KakaoPayment, window_url: str) -> dict:
    """The ready answer; `window_url` is the sandbox's buyer page for this tid."""
    app = f"{window_url}&device=app"
    scheme = "kakaotalk://kakaopay/pg?url=" + quote(app, safe="")
    return {
        "tid": payment.tid,
        "next_redirect_app_url": app,
        "next_redirect_mobile_url": f"{window_url}&device=mobile",
        "next_redirect_pc_url": window_url,
        "android_app_scheme": scheme,
        "ios_app_scheme": scheme,
        "created_at": stamp(payment.created_at),
    }


def card_info(payment: KakaoPayment) -> dict:
    return {
        **CARD,
        "install_month": f"{payment.install_month:02d}",
        "approved_id": payment.approved_id,
    }


def _common(payment: KakaoPayment) -> dict:
    return {
        "tid": payment.tid,
        "cid": payment.cid,
        "partner_order_id": payment.partner_order_id,
        "partner_user_id": payment.partner_user_id,
        "payment_method_type": payment.method,
        "amount": _amount(payment),
    }


def approve_json(payment: KakaoPayment) -> dict:
    action = next(a for a in payment.actions if a.kind == "PAYMENT")
    body = {"aid": action.aid, **_common(payment)}
    if payment.method == "CARD":
        body["card_info"] = card_info(payment)
    body.update(
        item_name=payment.item_name,
        item_code=payment.item_code,
        quantity=payment.quantity,
        created_at=stamp(payment.created_at),
        approved_at=stamp(payment.approved_at),
        payload=action.payload,
    )
    return body


def cancel_json(payment: KakaoPayment, action: Action) -> dict:
    return {
        "aid": action.aid,
        **_common(payment),
        "status": payment.status,
        "approved_cancel_amount": amount_json(
            action.amount, action.tax_free, action.vat, action.green_deposit
        ),
        "canceled_amount": _canceled_amount(payment),
        "cancel_available_amount": _available_amount(payment),
        "item_name": payment.item_name,
        "item_code": payment.item_code,
        "quantity": payment.quantity,
        "created_at": stamp(payment.created_at),
        "approved_at": stamp(payment.approved_at),
        "canceled_at": stamp(payment.canceled_at),
        "payload": action.payload,
    }


def order_json(payment: KakaoPayment) -> dict:
    """The order lookup: status, amounts and every PAYMENT / CANCEL action."""
    approved = payment.status in APPROVED
    selected_card = None
    if approved and payment.method == "CARD":
        selected_card = {
            "card_bin": CARD["bin"],
            "install_month": payment.install_month,
            "card_corp_name": CARD["kakaopay_issuer_corp"],
            "interest_free_install": CARD["interest_free_install"],
        }
    return {
        **_common(payment),
        "status": payment.status,
        "canceled_amount": _canceled_amount(payment),
        "cancel_available_amount": _available_amount(payment),
        "item_name": payment.item_name,
        "item_code": payment.item_code,
        "quantity": payment.quantity,
        "created_at": stamp(payment.created_at),
        "approved_at": stamp(payment.approved_at),
        "canceled_at": stamp(payment.canceled_at),
        "selected_card_info": selected_card,
        "payment_action_details": [
            {
                "aid": a.aid,
                "approved_at": stamp(a.at),
                "amount": a.amount,
                "point_amount": 0,
                "discount_amount": 0,
                "green_deposit": a.green_deposit,
                "payment_action_type": a.kind,
                "payload": a.payload,
            }
            for a in payment.actions
        ],
    }

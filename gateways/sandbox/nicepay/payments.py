"""NicePay payments inside the sandbox (docs/pg.md, NicePay: the response object and
statuses).

    authenticated (window) --approve--> paid --partial cancel--> partialCancelled --> cancelled
    authenticated --approve refused--> failed;  authenticated --net-cancel--> cancelled
    authenticated, not approved within the approval window --> approve answers A245

Business results travel in resultCode with HTTP 200 ("0000" success), as NicePay does.
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from gateways.sandbox.clock import Clock, iso

NETCANCEL_WINDOW = timedelta(hours=1)
PAY_METHOD = "card"  # the only method emulated


def sha256_hex(*parts) -> str:
    return hashlib.sha256("".join(str(p) for p in parts).encode()).hexdigest()


class NiceFailure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code, self.message = code, message


@dataclass
class NiceCancel:
    tid: str
    amount: int
    reason: str
    order_id: str
    cancelled_at: datetime


@dataclass
class NicePayment:
    tid: str
    order_id: str
    amount: int
    goods_name: str
    client_key: str
    status: (
        str  # authenticated (internal: what lookups show as "ready"), paid, failed, cancelled, ...
    )
    authenticated_at: datetime
    auth_token: str
    balance: int
    paid_at: datetime | None = None
    failed_at: datetime | None = None
    cancelled_at: datetime | None = None
    approve_no: str | None = None
    result_code: str = "0000"
    result_msg: str = ""
    cancels: list[NiceCancel] = field(default_factory=list)
    approve_calls: int = 0
    approvals: int = 0


class NiceLedger:
    def __init__(
        self, clock: Clock, on_change: Callable[[NicePayment], None], *, approve_window: timedelta
    ):
        self.clock = clock
        self.on_change = on_change
        self.approve_window = approve_window
        self.by_tid: dict[str, NicePayment] = {}
        self.by_order: dict[str, NicePayment] = {}

    def authenticate(
        self, *, order_id: str, amount: int, goods_name: str, client_key: str
    ) -> NicePayment:
        current = self.by_order.get(order_id)
        if current is not None and current.status in ("paid", "partialCancelled", "cancelled"):
            raise NiceFailure("A127", "이미 사용된 주문번호입니다.")
        now = self.clock.now()
        tid = f"sandbox0{now.strftime('%y%m%d%H%M%S')}{secrets.token_hex(5)}"[:30]
        payment = NicePayment(
            tid=tid,
            order_id=order_id,
            amount=amount,
            goods_name=goods_name,
            client_key=client_key,
            status="authenticated",
            authenticated_at=now,
            auth_token=secrets.token_hex(20),
            balance=amount,
        )
        self.by_tid[tid] = payment
        self.by_order[order_id] = payment
        return payment

    def approve(self, tid: str, amount: int) -> NicePayment:
        payment = self.by_tid.get(tid)
        if payment is None:
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        payment.approve_calls += 1
        self.check_approvable(payment)
        if amount != payment.amount:
            raise NiceFailure("A123", "거래금액 불일치(인증된 금액과 승인요청 금액 불일치)")
        return self.record_approval(payment)

    def check_approvable(self, payment: NicePayment) -> None:
        """Raises unless the payment is authenticated and still within the approval window."""
        if payment.status in ("paid", "partialCancelled", "cancelled"):
            raise NiceFailure("2201", "기승인 존재")
        if payment.status == "failed":
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        if self.clock.now() - payment.authenticated_at >= self.approve_window:
            raise NiceFailure("A245", "인증 시간이 초과되었습니다.")

    def record_approval(self, payment: NicePayment) -> NicePayment:
        """The approval itself, whoever asked for it (the merchant's approve or the control
        API's approve_unseen): paid, with its webhook."""
        payment.status = "paid"
        payment.paid_at = self.clock.now()
        payment.approve_no = f"{secrets.randbelow(10**8):08d}"
        payment.result_code, payment.result_msg = "0000", "정상 처리되었습니다."
        payment.approvals += 1
        self.on_change(payment)
        return payment

    def decline(self, payment: NicePayment, code: str, message: str) -> None:
        if payment.status == "authenticated":
            payment.status = "failed"
            payment.failed_at = self.clock.now()
            payment.result_code, payment.result_msg = code, message

    def cancel(
        self, tid: str, *, amount: int | None, reason: str, order_id: str
    ) -> tuple[NicePayment, NiceCancel]:
        payment = self.by_tid.get(tid)
        if payment is None:
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        if payment.status == "cancelled":
            raise NiceFailure("2013", "기취소 거래")
        if payment.status not in ("paid", "partialCancelled"):
            raise NiceFailure("2014", "취소 불가 거래")
        if any(c.order_id == order_id for c in payment.cancels):
            # The manual says a partial cancel's orderId cannot be reused; the code is not
            # documented (docs/pg.md, NicePay: idempotency and net cancel), so this one is
            # the sandbox's choice.
            raise NiceFailure("2012", "이미 사용된 취소 주문번호입니다.")
        amount = payment.balance if amount is None else amount
        if amount > payment.balance:
            raise NiceFailure("2032", "취소금액이 취소가능금액보다 큽니다.")
        now = self.clock.now()
        cancel = NiceCancel(
            tid=f"{tid[:20]}c{len(payment.cancels) + 1:02d}{secrets.token_hex(3)}"[:30],
            amount=amount,
            reason=reason,
            order_id=order_id,
            cancelled_at=now,
        )
        payment.cancels.append(cancel)
        payment.balance -= amount
        payment.cancelled_at = now
        payment.status = "cancelled" if payment.balance == 0 else "partialCancelled"
        self.on_change(payment)
        return payment, cancel

    def netcancel(self, order_id: str) -> NicePayment:
        payment = self.by_order.get(order_id)
        if payment is None:
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        if self.clock.now() - payment.authenticated_at > NETCANCEL_WINDOW:
            raise NiceFailure("2020", "망취소 허용시간 초과")
        if payment.status in ("authenticated", "paid"):
            # Undo the approval if it happened, and make sure a late one cannot.
            payment.status = "cancelled"
            payment.cancelled_at = self.clock.now()
            payment.balance = 0
            self.on_change(payment)
        return payment

    def get(self, tid: str) -> NicePayment:
        payment = self.by_tid.get(tid)
        if payment is None:
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        return payment

    def find(self, order_id: str, order_date: str) -> NicePayment:
        payment = self.by_order.get(order_id)
        if payment is None or payment.authenticated_at.strftime("%Y%m%d") != order_date:
            raise NiceFailure("A118", "거래가 존재하지 않습니다.")
        return payment

    def sweep(self) -> None:
        """Nothing expires on its own: an unapproved authentication only refuses approval."""

    def dump(self) -> list[dict]:
        return [asdict(p) for p in self.by_tid.values()]

    def load(self, items: list[dict]) -> None:
        for raw in items:
            raw["cancels"] = [NiceCancel(**c) for c in raw["cancels"]]
            payment = NicePayment(**raw)
            self.by_tid[payment.tid] = payment
            self.by_order[payment.order_id] = payment


def payment_json(
    payment: NicePayment,
    *,
    secret_key: str,
    result_code: str,
    result_msg: str,
    cancelled_tid: str | None = None,
) -> dict:
    """The response object (approve, cancel, lookup and webhook share it; docs/pg.md,
    NicePay: the response object and statuses)."""
    now = iso(datetime.now(payment.authenticated_at.tzinfo))
    shown = "ready" if payment.status == "authenticated" else payment.status
    valid = payment.status in ("paid", "partialCancelled", "cancelled")
    return {
        "resultCode": result_code,
        "resultMsg": result_msg,
        "tid": payment.tid,
        "cancelledTid": cancelled_tid,
        "orderId": payment.order_id,
        "ediDate": now,
        "signature": sha256_hex(payment.tid, payment.amount, now, secret_key) if valid else None,
        "status": shown,
        "paidAt": iso(payment.paid_at) or "0",
        "failedAt": iso(payment.failed_at) or "0",
        "cancelledAt": iso(payment.cancelled_at) or "0",
        "payMethod": PAY_METHOD,
        "amount": payment.amount,
        "balanceAmt": payment.balance,
        "goodsName": payment.goods_name,
        "mallReserved": None,
        "useEscrow": False,
        "currency": "KRW",
        "channel": "pc",
        "approveNo": payment.approve_no,
        "buyerName": None,
        "buyerTel": None,
        "buyerEmail": None,
        "receiptUrl": f"https://npg.nicepay.co.kr/issue/IssueLoader.do?type=0&TID={payment.tid}"
        if valid
        else None,
        "issuedCashReceipt": False,
        "coupon": None,
        "card": {
            "cardCode": "04",
            "cardName": "삼성",
            "cardNum": "536112******1234",
            "cardQuota": 0,
            "isInterestFree": False,
            "cardType": "credit",
            "canPartCancel": True,
            "acquCardCode": "04",
            "acquCardName": "삼성",
        }
        if valid
        else None,
        "vbank": None,
        "cancels": [
            {
                "tid": c.tid,
                "amount": c.amount,
                "cancelledAt": iso(c.cancelled_at),
                "reason": c.reason,
                "receiptUrl": None,
                "couponAmt": 0,
            }
            for c in payment.cancels
        ]
        or None,
        "cashReceipts": None,
    }

"""`POST /sandbox/{gateway}/differences`: make a PG's records differ from the app's on
purpose, the ways they come to differ in production, so reconciliation has something to
find (docs/sandbox.md, Reconciliation records).

    {"kind": "approve_unseen", "orderId"}             the PG approves an authenticated
                                                      payment the app never confirmed
    {"kind": "dashboard_cancel", "orderId", "amount"?} the merchant cancels it in the PG's
                                                      dashboard (default: the whole balance)
    {"kind": "amount_changed", "orderId", "amount"}    the PG's record of the approval
                                                      shows another amount

Each PG does the work with its own ledger's approve and cancel logic (its
`differences.py`, reached as `ledger.differences`, kind -> function(ledger, orderId,
amount)). Every check happens before anything changes, so a refused request changes
nothing. The answer is the payment's sandbox record, as `GET
/sandbox/{gateway}/payments/{orderId}` shows it.
"""

import json
from collections.abc import Callable

from aiohttp import web

from gateways.sandbox.control import control_error

KINDS = ("approve_unseen", "dashboard_cancel", "amount_changed")
FIELDS = {"kind", "orderId", "amount"}
# What a cancel from the merchant's dashboard carries: a reason, never an idempotency key.
DASHBOARD_CANCEL_REASON = "가맹점 관리자 취소"

Difference = Callable[[object, str, int | None], None]


class Refused(Exception):
    """The difference cannot be made: answer with this control error, nothing changed."""

    def __init__(self, message: str, status: int = 400, code: str = "INVALID_STATE"):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def payment_of(ledger, order_id: str):
    """The PG's newest payment for this orderId (every ledger keeps `by_order`)."""
    payment = ledger.by_order.get(order_id)
    if payment is None:
        raise Refused(f"no payment for orderId {order_id}", 404, "NOT_FOUND")
    return payment


def check_new_amount(amount: int, *, current: int, cancelled: int) -> None:
    """amount_changed: another amount, and more than is already cancelled, so the payment
    keeps a balance and its status stays true."""
    if amount == current:
        raise Refused(f"the approval already shows {amount}")
    if amount <= cancelled:
        raise Refused(f"amount must be more than the {cancelled} already cancelled")


def _parse(body) -> tuple[str, str, int | None]:
    """(kind, orderId, amount) or Refused with INVALID_REQUEST."""

    def bad(message: str) -> Refused:
        return Refused(message, code="INVALID_REQUEST")

    if not isinstance(body, dict):
        raise bad('the body must be a JSON object {"kind", "orderId", "amount"?}')
    if set(body) - FIELDS:
        raise bad(f"unknown fields: {', '.join(sorted(set(body) - FIELDS))}")
    kind, order_id, amount = body.get("kind"), body.get("orderId"), body.get("amount")
    if kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(order_id, str) or not order_id:
        raise bad("orderId must be a non-empty string")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int) or amount < 1
    ):
        raise bad("amount must be a positive integer")
    if kind == "amount_changed" and amount is None:
        raise bad("amount_changed needs the amount the PG's record should show")
    if kind == "approve_unseen" and amount is not None:
        raise bad("approve_unseen takes no amount: the PG approves the authenticated amount")
    return kind, order_id, amount


async def make_difference(request: web.Request) -> web.Response:
    gateway = request.match_info["gateway"]
    ledger = request.app["sandbox"].ledgers.get(gateway)
    if ledger is None:
        return control_error(f"no such gateway {gateway}", 404, "NOT_FOUND")
    request["sandbox"].update(gateway=gateway, operation="differences")
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    try:
        kind, order_id, amount = _parse(body)
        request["sandbox"]["orderId"] = order_id
        ledger.differences[kind](ledger, order_id, amount)
    except Refused as refused:
        return control_error(refused.message, refused.status, refused.code)
    return web.json_response(ledger.record(order_id, f"{request.scheme}://{request.host}"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/sandbox/{gateway}/differences", make_difference)

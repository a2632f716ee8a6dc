"""NicePay in the sandbox: its ledger, routes and records (the hooks server.py calls)."""

from datetime import timedelta

from aiohttp import web

from gateways.sandbox.nicepay import api, window
from gateways.sandbox.nicepay.differences import KINDS as DIFFERENCES
from gateways.sandbox.nicepay.payments import NiceLedger, NicePayment, payment_json

NAME = "nicepay"


class Ledger(NiceLedger):
    differences = DIFFERENCES

    def __init__(self, sandbox):
        super().__init__(
            sandbox.clock,
            on_change=lambda payment: api.payment_changed(sandbox, payment),
            approve_window=timedelta(seconds=sandbox.config.confirm_window_seconds),
        )
        self._secrets = dict(sandbox.config.nicepay_keys)

    def record(self, order_id: str, base_url: str) -> dict | None:
        payment = self.by_order.get(order_id)
        return None if payment is None else self._record(payment)

    def records(self, base_url: str, status: str | None) -> list[dict]:
        return [self._record(p) for p in self.by_tid.values() if status in (None, p.status)]

    def _record(self, payment: NicePayment) -> dict:
        secret = self._secrets.get(payment.client_key, "")
        record = payment_json(
            payment, secret_key=secret, result_code="0000", result_msg="sandbox record"
        )
        record["sandbox"] = {"approvals": payment.approvals, "approveCalls": payment.approve_calls}
        return record


def create_ledger(sandbox) -> Ledger:
    return Ledger(sandbox)


def add_routes(app: web.Application) -> None:
    window.add_routes(app)
    api.add_routes(app)  # last: it ends with the /nicepay catch-all

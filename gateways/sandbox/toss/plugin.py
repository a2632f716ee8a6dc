"""Toss in the sandbox: its ledger, its routes, its records (the hooks server.py calls)."""

from dataclasses import asdict, fields
from datetime import timedelta

from aiohttp import web

from gateways.sandbox.clock import iso
from gateways.sandbox.toss import api, settings, virtual_accounts, window
from gateways.sandbox.toss.differences import KINDS as DIFFERENCES
from gateways.sandbox.toss.payments import (
    Cancel,
    Deposit,
    TossLedger,
    TossPayment,
    VirtualAccount,
    payment_json,
)

NAME = "toss"


class Ledger(TossLedger):
    """TossLedger plus what every sandbox PG offers the control API and the state file."""

    differences = DIFFERENCES

    def record(self, order_id: str, base_url: str) -> dict | None:
        payment = self.by_order.get(order_id)
        if payment is None:
            return None
        self.refresh(payment)
        return _record(payment, base_url)

    def records(self, base_url: str, status: str | None) -> list[dict]:
        self.sweep()
        return [_record(p, base_url) for p in self.by_key.values() if status in (None, p.status)]

    def dump(self) -> list[dict]:
        return [asdict(p) for p in self.by_key.values()]

    def load(self, items: list[dict]) -> None:
        names = {f.name for f in fields(TossPayment)}
        for raw in items:
            raw["cancels"] = [Cancel(**c) for c in raw["cancels"]]
            # a state file from before virtual accounts has neither
            raw["deposits"] = [Deposit(**d) for d in raw.get("deposits", [])]
            if raw.get("virtual_account") is not None:
                raw["virtual_account"] = VirtualAccount(**raw["virtual_account"])
            payment = TossPayment(**{k: v for k, v in raw.items() if k in names})
            self.by_key[payment.payment_key] = payment
            newest = self.by_order.get(payment.order_id)
            if newest is None or payment.requested_at >= newest.requested_at:
                self.by_order[payment.order_id] = payment


def _record(payment: TossPayment, base_url: str) -> dict:
    """The Payment object plus what only the sandbox knows (for invariant checks)."""
    record = payment_json(payment, base_url=f"{base_url}/toss")
    record["sandbox"] = {
        "confirmCalls": payment.confirm_calls,
        "approvals": payment.approvals,
        "authenticatedAt": iso(payment.authenticated_at),
        # virtual accounts: each deposit and whether the bank network took it back
        "deposits": [
            {
                "transactionKey": d.transaction_key,
                "at": iso(d.at),
                "late": d.late,
                "reversedAt": iso(d.reversed_at),
                "reversalKey": d.reversal_key,
            }
            for d in payment.deposits
        ],
    }
    return record


def create_ledger(sandbox) -> Ledger:
    config = sandbox.config
    return Ledger(
        sandbox.clock,
        on_change=lambda payment: api.payment_changed(sandbox, payment),
        on_deposit=lambda payment, status, key: api.deposit_callback(sandbox, payment, status, key),
        auth_window=timedelta(seconds=config.auth_window_seconds),
        confirm_window=timedelta(seconds=config.confirm_window_seconds),
        amount_mismatch_code=config.amount_mismatch_code,
    )


def add_routes(app: web.Application) -> None:
    window.add_routes(app)
    settings.add_routes(app)
    virtual_accounts.add_routes(app)
    api.add_routes(app)  # last: it ends with the /toss catch-all

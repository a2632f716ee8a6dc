"""KakaoPay in the sandbox: its ledger, its routes, its records (the hooks server.py calls).

KakaoPay sends no webhooks and has no idempotency header, so neither is wired here.
"""

from dataclasses import asdict, fields
from datetime import timedelta

from aiohttp import web

from gateways.sandbox.clock import iso
from gateways.sandbox.kakaopay import api, settings, window
from gateways.sandbox.kakaopay.differences import KINDS as DIFFERENCES
from gateways.sandbox.kakaopay.payments import (
    ALREADY_APPROVED_CODE,
    READY_WINDOW,
    Action,
    KakaoLedger,
    KakaoPayment,
    order_json,
)

NAME = "kakaopay"


class Ledger(KakaoLedger):
    """KakaoLedger plus what every sandbox PG offers the control API and the state file."""

    differences = DIFFERENCES

    def record(self, order_id: str, base_url: str) -> dict | None:
        """The newest tid of this partner_order_id."""
        payment = self.by_order.get(order_id)
        return None if payment is None else self._record(payment)

    def records(self, base_url: str, status: str | None) -> list[dict]:
        return [self._record(p) for p in self.by_tid.values() if status in (None, p.status)]

    def dump(self) -> list[dict]:
        return [asdict(p) for p in self.by_tid.values()]

    def load(self, items: list[dict]) -> None:
        names = {f.name for f in fields(KakaoPayment)}
        for raw in items:
            raw["actions"] = [Action(**a) for a in raw.get("actions", [])]
            payment = KakaoPayment(**{k: v for k, v in raw.items() if k in names})
            self.by_tid[payment.tid] = payment
            newest = self.by_order.get(payment.partner_order_id)
            if newest is None or payment.created_at >= newest.created_at:
                self.by_order[payment.partner_order_id] = payment

    def _record(self, payment: KakaoPayment) -> dict:
        """The order lookup body plus what only the sandbox knows (for invariant checks)."""
        record = order_json(payment)
        record["sandbox"] = {
            "approvals": payment.approvals,
            "approveCalls": payment.approve_calls,
            "cancelCalls": payment.cancel_calls,
            "pgToken": payment.pg_token,
            "pgTokenUsed": payment.pg_token_used,
            "authenticatedAt": iso(payment.authenticated_at),
            "expiresAt": iso(self.expires_at(payment)),
            "expired": self.expired(payment),
            "failure": payment.failure,
        }
        return record


def create_ledger(sandbox) -> Ledger:
    config = sandbox.config
    window_seconds = getattr(config, "kakaopay_ready_window_seconds", READY_WINDOW.total_seconds())
    return Ledger(
        sandbox.clock,
        ready_window=timedelta(seconds=window_seconds),
        already_approved_code=getattr(
            config, "kakaopay_already_approved_code", ALREADY_APPROVED_CODE
        ),
    )


def add_routes(app: web.Application) -> None:
    window.add_routes(app)
    settings.add_routes(app)
    api.add_routes(app)  # last: it ends with the /kakaopay catch-all

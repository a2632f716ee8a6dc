"""NICEPAY Start API v1 over HTTP: requests and raw answers only (docs/pg.md, NicePay:
endpoints we call)."""

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from gateways.http import PgHttp, PgResponse

KST = timezone(timedelta(hours=9))


def sign(*parts) -> str:
    """hex(sha256(concatenation)): NicePay's signData and response signature."""
    return hashlib.sha256("".join(str(p) for p in parts).encode()).hexdigest()


def edi_date() -> str:
    return datetime.now(KST).replace(microsecond=0).isoformat()


class NicePayClient:
    def __init__(
        self,
        *,
        api_base: str,
        client_key: str,
        secret_key: str,
        connect_timeout: float,
        read_timeout: float,
    ):
        self.http = PgHttp(
            "nicepay", base_url=api_base, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self.secret_key = secret_key
        token = base64.b64encode(f"{client_key}:{secret_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def approve(self, *, tid: str, order_id: str, amount: int) -> PgResponse:
        when = edi_date()
        return self.http.request(
            "POST",
            f"/v1/payments/{quote(tid, safe='')}",
            operation="approve",
            order_id=order_id,
            headers=self._headers,
            json={
                "amount": amount,
                "ediDate": when,
                "signData": sign(tid, amount, when, self.secret_key),
            },
        )

    def cancel(
        self,
        *,
        tid: str,
        order_id: str,
        cancel_order_id: str,
        reason: str,
        amount: int | None,
        refund: dict | None = None,
    ) -> PgResponse:
        """`refund`: refundAccount, refundBankCode and refundHolder, for a paid virtual
        account. They go in the body only: gateways.http logs no bodies."""
        when = edi_date()
        body = {
            "reason": reason[:100],
            "orderId": cancel_order_id,
            "ediDate": when,
            "signData": sign(tid, when, self.secret_key),
        }
        if amount is not None:
            body["cancelAmt"] = amount
        if refund is not None:
            body.update(refund)
        return self.http.request(
            "POST",
            f"/v1/payments/{quote(tid, safe='')}/cancel",
            operation="cancel",
            order_id=order_id,
            headers=self._headers,
            json=body,
        )

    def netcancel(self, *, order_id: str) -> PgResponse:
        when = edi_date()
        return self.http.request(
            "POST",
            "/v1/payments/netcancel",
            operation="netcancel",
            order_id=order_id,
            headers=self._headers,
            json={
                "orderId": order_id,
                "ediDate": when,
                "signData": sign(order_id, when, self.secret_key),
            },
        )

    def get(self, tid: str, order_id: str | None = None) -> PgResponse:
        return self.http.request(
            "GET",
            f"/v1/payments/{quote(tid, safe='')}",
            operation="lookup",
            order_id=order_id,
            headers=self._headers,
        )

    def find(self, order_id: str, order_date: str) -> PgResponse:
        return self.http.request(
            "GET",
            f"/v1/payments/find/{quote(order_id, safe='')}",
            operation="lookup",
            order_id=order_id,
            headers=self._headers,
            params={"orderDate": order_date},
        )

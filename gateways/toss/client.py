"""Toss Payments core API v1 over HTTP: requests and raw answers only (docs/pg.md, Toss:
endpoints we call)."""

import base64
from urllib.parse import quote

from gateways.http import PgHttp, PgResponse


class TossClient:
    def __init__(
        self, *, api_base: str, secret_key: str, connect_timeout: float, read_timeout: float
    ):
        self.http = PgHttp(
            "toss", base_url=api_base, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        # Basic auth: the secret key as the user name and an empty password ("key:").
        token = base64.b64encode(f"{secret_key}:".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def confirm(
        self, *, payment_key: str, order_id: str, amount: int, idempotency_key: str
    ) -> PgResponse:
        return self.http.request(
            "POST",
            "/v1/payments/confirm",
            operation="confirm",
            order_id=order_id,
            headers={**self._headers, "Idempotency-Key": idempotency_key},
            json={"paymentKey": payment_key, "orderId": order_id, "amount": amount},
        )

    def cancel(
        self,
        *,
        payment_key: str,
        order_id: str,
        reason: str,
        amount: int | None,
        idempotency_key: str,
        refund_account: dict | None = None,
    ) -> PgResponse:
        """`refund_account`: refundReceiveAccount {bank, accountNumber, holderName}, for a
        paid virtual account. It goes in the body only: gateways.http logs no bodies."""
        body = {"cancelReason": reason}
        if amount is not None:
            body["cancelAmount"] = amount
        if refund_account is not None:
            body["refundReceiveAccount"] = refund_account
        return self.http.request(
            "POST",
            f"/v1/payments/{quote(payment_key, safe='')}/cancel",
            operation="cancel",
            order_id=order_id,
            headers={**self._headers, "Idempotency-Key": idempotency_key},
            json=body,
        )

    def get_payment(self, payment_key: str) -> PgResponse:
        return self.http.request(
            "GET",
            f"/v1/payments/{quote(payment_key, safe='')}",
            operation="lookup",
            headers=self._headers,
        )

    def get_payment_by_order_id(self, order_id: str) -> PgResponse:
        return self.http.request(
            "GET",
            f"/v1/payments/orders/{quote(order_id, safe='')}",
            operation="lookup",
            order_id=order_id,
            headers=self._headers,
        )

    def transactions(
        self, *, start: str, end: str, limit: int, starting_after: str | None = None
    ) -> PgResponse:
        """GET /v1/transactions: ISO 8601 `start` and `end` (both included), one page of at
        most `limit` rows after the transactionKey `starting_after`."""
        params = {"startDate": start, "endDate": end, "limit": limit}
        if starting_after is not None:
            params["startingAfter"] = starting_after
        return self.http.request(
            "GET",
            "/v1/transactions",
            operation="transactions",
            headers=self._headers,
            params=params,
        )

    def settlements(
        self, *, start: str, end: str, page: int, size: int, date_type: str = "soldDate"
    ) -> PgResponse:
        """GET /v1/settlements: ISO dates `start` and `end` (both included) of `date_type`
        (soldDate or paidOutDate), page `page` (from 1) of `size` rows."""
        params = {
            "startDate": start,
            "endDate": end,
            "dateType": date_type,
            "page": page,
            "size": size,
        }
        return self.http.request(
            "GET", "/v1/settlements", operation="settlements", headers=self._headers, params=params
        )

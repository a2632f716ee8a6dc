"""KakaoPay online payment API over HTTP: the new open-api.kakaopay.com (docs/pg.md,
KakaoPay: endpoints we call)."""

from gateways.http import PgHttp, PgResponse


class KakaoPayClient:
    def __init__(
        self,
        *,
        api_base: str,
        secret_key: str,
        cid: str,
        connect_timeout: float,
        read_timeout: float,
    ):
        self.http = PgHttp(
            "kakaopay",
            base_url=api_base,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self.cid = cid
        # The dev secret (DEV…) goes with the DEV_SECRET_KEY prefix, the live one with SECRET_KEY.
        prefix = "DEV_SECRET_KEY" if secret_key.startswith("DEV") else "SECRET_KEY"
        self._headers = {"Authorization": f"{prefix} {secret_key}", "Accept": "application/json"}

    def _post(self, path: str, operation: str, order_id: str | None, body: dict) -> PgResponse:
        return self.http.request(
            "POST",
            f"/online/v1/payment/{path}",
            operation=operation,
            order_id=order_id,
            headers=self._headers,
            json={"cid": self.cid, **body},
        )

    def ready(
        self,
        *,
        order_id: str,
        user_id: str,
        item_name: str,
        quantity: int,
        total_amount: int,
        approval_url: str,
        cancel_url: str,
        fail_url: str,
    ) -> PgResponse:
        return self._post(
            "ready",
            "ready",
            order_id,
            {
                "partner_order_id": order_id,
                "partner_user_id": user_id,
                "item_name": item_name[:100],
                "quantity": quantity,
                "total_amount": total_amount,
                "tax_free_amount": 0,
                "approval_url": approval_url,
                "cancel_url": cancel_url,
                "fail_url": fail_url,
            },
        )

    def approve(
        self, *, tid: str, order_id: str, user_id: str, pg_token: str, total_amount: int
    ) -> PgResponse:
        return self._post(
            "approve",
            "approve",
            order_id,
            {
                "tid": tid,
                "partner_order_id": order_id,
                "partner_user_id": user_id,
                "pg_token": pg_token,
                "total_amount": total_amount,
            },
        )

    def order(self, *, tid: str, order_id: str | None = None) -> PgResponse:
        return self._post("order", "lookup", order_id, {"tid": tid})

    def cancel(
        self,
        *,
        tid: str,
        order_id: str,
        amount: int,
        available: int | None = None,
        payload: str = "",
    ) -> PgResponse:
        body = {"tid": tid, "cancel_amount": amount, "cancel_tax_free_amount": 0}
        if available is not None:
            body["cancel_available_amount"] = available
        if payload:
            body["payload"] = payload
        return self._post("cancel", "cancel", order_id, body)

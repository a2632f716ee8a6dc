"""A thin raw-HTTP test client for the KakaoPay sandbox: the tests pin the wire contract."""

import uuid

import requests

from tests.processes import Process

SECRET = "DEV_contract_kakao"
CID = "TC0ONETIME"
USER_ID = "member-1001"
APPROVAL_URL = "http://shop.test/kakao/approve?shop=1"
CANCEL_URL = "http://shop.test/kakao/cancel"
FAIL_URL = "http://shop.test/kakao/fail"
API = "/kakaopay/online/v1/payment"


class KakaoSandbox:
    def __init__(self, base: str, process: Process, secret: str = SECRET):
        self.base, self.process, self.secret = base, process, secret
        self.http = requests.Session()

    def new_order_id(self) -> str:
        return f"order-{uuid.uuid4().hex[:16]}"

    # --- the KakaoPay API -------------------------------------------------------------

    def call(
        self,
        operation: str,
        body: dict | None = None,
        *,
        authorization: str | None = None,
        headers: dict | None = None,
        timeout: float = 10,
        **kwargs,
    ) -> requests.Response:
        headers = {"Authorization": authorization or f"SECRET_KEY {self.secret}", **(headers or {})}
        if body is not None:
            kwargs["json"] = body
        return self.http.post(
            f"{self.base}{API}/{operation}", headers=headers, timeout=timeout, **kwargs
        )

    def ready_body(self, order_id: str, amount: int = 15000, **overrides) -> dict:
        return {
            "cid": CID,
            "partner_order_id": order_id,
            "partner_user_id": USER_ID,
            "item_name": "카카오 티셔츠",
            "quantity": 1,
            "total_amount": amount,
            "tax_free_amount": 0,
            "approval_url": APPROVAL_URL,
            "cancel_url": CANCEL_URL,
            "fail_url": FAIL_URL,
            **overrides,
        }

    def ready(self, order_id: str, amount: int = 15000, **overrides) -> requests.Response:
        return self.call("ready", self.ready_body(order_id, amount, **overrides))

    def approve(
        self, tid: str, order_id: str, pg_token: str, *, user_id: str = USER_ID, **extra
    ) -> requests.Response:
        call_options = {k: extra.pop(k) for k in ("timeout", "authorization") if k in extra}
        body = {
            "cid": CID,
            "tid": tid,
            "partner_order_id": order_id,
            "partner_user_id": user_id,
            "pg_token": pg_token,
            **extra,
        }
        return self.call("approve", body, **call_options)

    def order(self, tid: str, **kwargs) -> requests.Response:
        return self.call("order", {"cid": CID, "tid": tid}, **kwargs)

    def status(self, tid: str) -> str:
        return self.order(tid).json()["status"]

    def cancel(self, tid: str, amount: int, tax_free: int = 0, **extra) -> requests.Response:
        body = {
            "cid": CID,
            "tid": tid,
            "cancel_amount": amount,
            "cancel_tax_free_amount": tax_free,
            **extra,
        }
        return self.call("cancel", body)

    # --- the buyer and the sandbox ------------------------------------------------------

    def authorize(self, tid: str) -> str:
        response = self.http.post(
            f"{self.base}/sandbox/kakaopay/authorize", json={"tid": tid}, timeout=5
        )
        assert response.status_code == 200, response.text
        return response.json()["pg_token"]

    def authorized(self, amount: int = 15000, **ready_extra) -> tuple[str, str, str]:
        """A tid waiting for approve: (orderId, tid, pg_token)."""
        order_id = self.new_order_id()
        response = self.ready(order_id, amount, **ready_extra)
        assert response.status_code == 200, response.text
        tid = response.json()["tid"]
        return order_id, tid, self.authorize(tid)

    def paid(self, amount: int = 15000, **ready_extra) -> tuple[str, str]:
        """An approved payment: (orderId, tid)."""
        order_id, tid, pg_token = self.authorized(amount, **ready_extra)
        response = self.approve(tid, order_id, pg_token)
        assert response.status_code == 200, response.text
        return order_id, tid

    def buyer(self, tid: str, status: str) -> requests.Response:
        return self.http.post(
            f"{self.base}/sandbox/kakaopay/buyer", json={"tid": tid, "status": status}, timeout=5
        )

    def fault(self, **spec) -> dict:
        response = self.http.put(
            f"{self.base}/sandbox/faults", json={"gateway": "kakaopay", **spec}, timeout=5
        )
        assert response.status_code == 201, response.text
        return response.json()

    def settings(self, **values) -> dict:
        response = self.http.put(f"{self.base}/sandbox/kakaopay/settings", json=values, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def advance(self, seconds: float) -> None:
        assert self.http.post(
            f"{self.base}/sandbox/clock/advance", json={"seconds": seconds}, timeout=5
        ).ok

    def record(self, order_id: str) -> dict:
        return self.http.get(f"{self.base}/sandbox/kakaopay/payments/{order_id}", timeout=5).json()

    def requests_for(self, order_id: str, operation: str | None = None) -> list[dict]:
        params = {"orderId": order_id, **({"operation": operation} if operation else {})}
        return self.http.get(f"{self.base}/sandbox/requests", params=params, timeout=5).json()[
            "requests"
        ]

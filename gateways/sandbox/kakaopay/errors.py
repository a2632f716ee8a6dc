"""KakaoPay's error answers: {"error_code": <negative int>, "error_message": "..."}, with
"extras" {"method_result_code", "method_result_message"} when a provider gave a reason.

Only -780 ("approval failure!", HTTP 400) is documented for the new API (docs/pg.md,
KakaoPay: errors). The other numbers come from the old Kakao developers error table as
copied by third parties (two independent copies agree); the new API is assumed to keep
them, and none of them is confirmed for the new API (docs/pg.md, What is not confirmed).
The messages are the sandbox's own. Codes the tables do not cover (-404 for an unknown
path, -722 for a stale cancel_available_amount) are sandbox choices.
"""

from dataclasses import dataclass

GENERIC_STATUS = 400


@dataclass(frozen=True)
class KakaoError:
    status: int
    message: str


ERRORS: dict[int, KakaoError] = {
    -1: KakaoError(500, "internal server error"),
    -2: KakaoError(400, "invalid request"),
    -401: KakaoError(401, "invalid secret key"),
    -404: KakaoError(404, "not found"),
    -701: KakaoError(400, "payment is not authenticated yet"),
    # Not confirmed for the new API: third-party copies of the old table give -702 for
    # "approve again with an already approved tid"; configurable (alreadyApprovedCode).
    -702: KakaoError(400, "payment already approved"),
    -704: KakaoError(400, "total_amount differs from the ready request"),
    -706: KakaoError(400, "partner_order_id differs from the ready request"),
    -707: KakaoError(400, "partner_user_id differs from the ready request"),
    -708: KakaoError(400, "invalid pg_token"),
    -710: KakaoError(400, "cancel amount exceeds the cancel available amount"),
    -721: KakaoError(400, "tid not found"),
    -722: KakaoError(400, "invalid amount"),
    -723: KakaoError(400, "payment request expired"),
    -731: KakaoError(400, "invalid cid"),
    -780: KakaoError(400, "approval failure!"),
    -781: KakaoError(400, "cancel failure!"),
    -783: KakaoError(400, "payment cannot be approved in its current status"),
    -784: KakaoError(400, "payment cannot be cancelled in its current status"),
    -785: KakaoError(400, "duplicated payment or cancel request"),
}


class KakaoFailure(Exception):
    """A KakaoPay error the API answers with (status and message from the table unless given)."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        status: int | None = None,
        extras: dict | None = None,
    ):
        super().__init__(code)
        known = ERRORS.get(code)
        self.code = code
        self.message = message or (known.message if known else f"error {code}")
        self.status = status or (known.status if known else GENERIC_STATUS)
        self.extras = extras

    def body(self) -> dict:
        body: dict = {"error_code": self.code, "error_message": self.message}
        if self.extras is not None:
            body["extras"] = self.extras
        return body

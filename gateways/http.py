"""The one place that talks HTTP to a PG: pooled sessions, timeouts, one log line a call.

Rules it enforces for every gateway:
- never inside a database transaction (invariant 8, docs/design.md): a slow PG must not hold a
  row lock or a transaction open, so a call made inside one raises before it is sent;
- connect and read timeouts on every request, no hidden retries (the caller retries,
  with the same idempotency key, and knows when an outcome is unknown);
- no header, key or body in the log: gateway, operation, orderId, status, code, latency.
"""

import time
from dataclasses import dataclass

import requests
import structlog
from django.db import connections
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from gateways import metrics
from gateways.errors import OutcomeUnknown, Retryable

log = structlog.get_logger("gateways.http")


class PgCallInTransaction(RuntimeError):
    """A PG call was attempted with a database transaction open: a bug, never sent."""


def assert_no_transaction() -> None:
    for conn in connections.all(initialized_only=True):
        # The test runner's own wrapping transaction is not the code's doing.
        if any(not block._from_testcase for block in conn.atomic_blocks):
            raise PgCallInTransaction(f"PG call inside a transaction on {conn.alias!r}")


@dataclass(frozen=True)
class PgResponse:
    status: int
    body: object  # parsed JSON, or None when the body was not JSON
    ms: float

    @property
    def code(self) -> str:
        return str(self.body.get("code", "")) if isinstance(self.body, dict) else ""

    @property
    def error_code(self) -> str:
        """The PG's error code if this answer is an error, else "" (for metrics).

        Toss and KakaoPay send an HTTP error with `code` / `error_code`; NicePay answers
        200 with a `resultCode` other than 0000.
        """
        body = self.body if isinstance(self.body, dict) else {}
        result = str(body.get("resultCode", "0000"))
        if self.status < 400 and result == "0000":
            return ""
        if self.status < 400:
            return result
        code = body.get("code") or body.get("error_code")
        return str(code) if code not in (None, "") else f"HTTP_{self.status}"


class PgHttp:
    def __init__(
        self,
        gateway: str,
        *,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int = 32,
    ):
        self.gateway = gateway
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        # The proxy settings are read from the environment once, here, not on every call:
        # requests re-reads os.environ (and ~/.netrc) per request when trust_env is on,
        # which was a measurable share of a confirm's CPU. The base URL never changes, so
        # the answer is the same.
        self.session.proxies = requests.utils.get_environ_proxies(self.base_url)
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        order_id: str | None = None,
        headers: dict | None = None,
        json: dict | None = None,
        params: dict | None = None,
    ) -> PgResponse:
        assert_no_transaction()
        started = time.perf_counter()
        context = {"gateway": self.gateway, "operation": operation, "orderId": order_id}
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                headers=headers,
                json=json,
                params=params,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            ms = (time.perf_counter() - started) * 1000
            error = _transport_error(exc, context)
            self._count(operation, ms, error.code)
            log.warning("pg_call", **context, outcome=error.code, ms=round(ms, 1))
            raise error from exc
        ms = (time.perf_counter() - started) * 1000
        try:
            body = response.json()
        except ValueError:
            body = None
        result = PgResponse(status=response.status_code, body=body, ms=ms)
        self._count(operation, ms, result.error_code)
        log.info(
            "pg_call",
            **context,
            status=result.status,
            code=result.code or None,
            outcome=result.error_code or "ok",
            ms=round(ms, 1),
        )
        return result

    def _count(self, operation: str, ms: float, error_code: str) -> None:
        metrics.PG_CALLS.labels(self.gateway, operation).inc()
        metrics.PG_CALL_SECONDS.labels(self.gateway, operation).observe(ms / 1000)
        if error_code:
            metrics.PG_CALL_ERRORS.labels(self.gateway, operation, error_code[:64]).inc()


def _transport_error(exc: requests.RequestException, context: dict):
    kwargs = {"gateway": context["gateway"], "operation": context["operation"]}
    if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
        return Retryable("the PG could not be reached", code="CONNECT_FAILED", sent=False, **kwargs)
    if isinstance(exc, requests.ReadTimeout):
        return OutcomeUnknown("no answer before the read timeout", code="READ_TIMEOUT", **kwargs)
    return OutcomeUnknown(
        f"the connection broke: {type(exc).__name__}", code="CONNECTION_LOST", **kwargs
    )


def _never_connected(exc: BaseException) -> bool:
    """True when the connection was never made (so nothing was sent): refused, DNS."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack and len(seen) < 12:
        current = stack.pop()
        if isinstance(current, NewConnectionError | NameResolutionError):
            return True
        seen.append(current)
        linked = [getattr(current, "reason", None), current.__context__, current.__cause__]
        linked += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        stack += [e for e in linked if isinstance(e, BaseException) and e not in seen]
    return False

"""What the sandbox was asked and what it did, for tests and for people.

Every request is kept (bounded) for `GET /sandbox/requests`, listed from its arrival, and
written as one log line when it ends, with the orderId and the fault it met. Headers are
never logged: they carry the secret key. Bodies are never kept either: a cancel's
refundReceiveAccount carries the buyer's bank account number, a virtual account's answer
its `secret`. Handlers note only ids (gateway, operation, orderId, paymentKey ...), and
should one ever note a field named in REDACTED, its value is shown as "[redacted]".
"""

import itertools
from collections import deque

import structlog

from gateways.sandbox.clock import Clock, iso

log = structlog.get_logger("gateways.sandbox")

# Note fields whose value is never shown, in the log or in GET /sandbox/requests.
REDACTED = frozenset(
    {"accountNumber", "refundReceiveAccount", "secret", "cardNumber", "authorization"}
)


class RequestLog:
    """Requests are listed from the moment they arrive (status null while in flight), so a
    caller that timed out can already see the request the sandbox is still holding."""

    def __init__(self, clock: Clock, size: int = 50_000):
        self.clock = clock
        self.entries: deque[dict] = deque(maxlen=size)
        self._ids = itertools.count(1)

    def start(self, *, method: str, path: str, note: dict) -> dict:
        """Open an entry; `note` is the handler's live dict (orderId, operation, ...)."""
        entry = {
            "id": next(self._ids),
            "at": iso(self.clock.now()),
            "method": method,
            "path": path,
            "status": None,
            "ms": None,
            "note": note,
        }
        self.entries.append(entry)
        return entry

    def finish(self, entry: dict, *, status: int | None, ms: float) -> None:
        entry.update(status=status, ms=round(ms, 1), done=True)
        shown = self._render(entry)
        log.info("sandbox_request", **{k: v for k, v in shown.items() if k not in ("id", "at")})

    @staticmethod
    def _render(entry: dict) -> dict:
        fields = {k: v for k, v in entry.items() if k not in ("note", "done")}
        fields["inFlight"] = not entry.get("done", False)
        note = {
            k: "[redacted]" if k in REDACTED else v
            for k, v in entry["note"].items()
            if v is not None
        }
        return {**fields, **note}

    def query(self, *, gateway=None, operation=None, order_id=None, limit=1000) -> list[dict]:
        found = []
        for entry in list(self.entries):
            note = entry["note"]
            if (
                (gateway is None or note.get("gateway") == gateway)
                and (operation is None or note.get("operation") == operation)
                and (order_id is None or note.get("orderId") == order_id)
            ):
                found.append(self._render(entry))
        return found[-limit:]

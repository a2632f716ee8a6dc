"""Fault injection rules, set through `PUT /sandbox/faults` (docs/sandbox.md, Fault rules).

Every rule that matches a request (gateway, operation, optional orderId, then a roll
against its rate) applies: their latencies add up, and the first matching rule with an
outcome decides it. Outcomes:

- errorCode (+ httpStatus): answer with that PG error. Without `commit` nothing happens
  at the PG (a final decline still aborts the payment, as a real refusal does); with
  `commit` the PG does the work and the answer is the error: the hidden-success case.
- timeout: hold the request until the client gives up (or holdSeconds pass), then close
  it without an answer; with `commit` the PG did the work first.
- dropResponseAfterCommit: do the work, then close the connection without an answer.
- failBeforeCommit: close the connection without an answer and without doing anything.
"""

import itertools
import random
import re
from dataclasses import asdict, dataclass, field

OPERATIONS = {
    "toss": {"confirm", "cancel", "lookup", "settlements", "transactions"},
    "nicepay": {"approve", "cancel", "netcancel", "lookup"},
    "kakaopay": {"ready", "approve", "cancel", "lookup"},
}
_CODE = re.compile(r"^-?[A-Za-z0-9_]{1,64}$")
_OUTCOMES = ("errorCode", "timeout", "dropResponseAfterCommit", "failBeforeCommit")


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    id: int
    gateway: str
    operation: str
    orderId: str | None = None  # the control API's field names (camelCase)
    rate: float = 1.0
    count: int | None = None
    latencyMs: tuple[int, int] | None = None
    errorCode: str | None = None
    httpStatus: int | None = None
    timeout: bool = False
    dropResponseAfterCommit: bool = False
    failBeforeCommit: bool = False
    commit: bool = False
    holdSeconds: float = 300.0
    hits: int = 0

    @property
    def has_outcome(self) -> bool:
        return bool(
            self.errorCode or self.timeout or self.dropResponseAfterCommit or self.failBeforeCommit
        )

    def as_json(self) -> dict:
        data = asdict(self)
        data["latencyMs"] = list(self.latencyMs) if self.latencyMs else None
        return data


@dataclass
class Decision:
    """What the matching rules decided for one request."""

    latency_seconds: float = 0.0
    rule: Fault | None = None
    matched: list[int] = field(default_factory=list)


class FaultTable:
    def __init__(self, rng: random.Random | None = None):
        self.rules: list[Fault] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()
        self.applied = 0  # requests that got an outcome (not just latency)

    def add(self, spec: object) -> Fault:
        fault = _parse(spec, next(self._ids))
        self.rules.append(fault)
        return fault

    def remove(self, fault_id: int) -> bool:
        before = len(self.rules)
        self.rules = [f for f in self.rules if f.id != fault_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules = []

    def decide(self, gateway: str, operation: str, order_id: str | None) -> Decision:
        decision = Decision()
        for fault in self.rules:
            if fault.gateway != gateway or fault.operation not in ("*", operation):
                continue
            if fault.orderId is not None and fault.orderId != order_id:
                continue
            if fault.count is not None and fault.hits >= fault.count:
                continue
            if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                continue
            if fault.has_outcome and decision.rule is not None:
                continue  # an outcome is already decided; this rule's latency alone is not
            fault.hits += 1
            decision.matched.append(fault.id)
            if fault.latencyMs:
                low, high = fault.latencyMs
                decision.latency_seconds += self._rng.uniform(low, high) / 1000
            if fault.has_outcome:
                decision.rule = fault
        if decision.rule is not None:
            self.applied += 1
        return decision


def _parse(spec: object, fault_id: int) -> Fault:
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a JSON object")
    unknown = set(spec) - {f for f in Fault.__dataclass_fields__ if f not in ("id", "hits")}
    if unknown:
        raise FaultSpecError(f"unknown fields: {', '.join(sorted(unknown))}")
    gateway, operation = spec.get("gateway"), spec.get("operation")
    if gateway not in OPERATIONS:
        raise FaultSpecError(f"gateway must be one of {sorted(OPERATIONS)}")
    if operation != "*" and operation not in OPERATIONS[gateway]:
        raise FaultSpecError(f"operation must be '*' or one of {sorted(OPERATIONS[gateway])}")

    fault = Fault(id=fault_id, gateway=gateway, operation=operation)
    fault.orderId = _optional(spec, "orderId", str)
    fault.rate = float(_optional(spec, "rate", (int, float), 1.0))
    if not 0.0 <= fault.rate <= 1.0:
        raise FaultSpecError("rate must be between 0 and 1")
    fault.count = _optional(spec, "count", int)
    if fault.count is not None and fault.count < 1:
        raise FaultSpecError("count must be at least 1")
    fault.latencyMs = _latency(spec.get("latencyMs"))
    fault.errorCode = _optional(spec, "errorCode", str)
    if fault.errorCode is not None and not _CODE.match(fault.errorCode):
        raise FaultSpecError("errorCode must be a PG code such as REJECT_CARD_COMPANY")
    fault.httpStatus = _optional(spec, "httpStatus", int)
    if fault.httpStatus is not None and not 400 <= fault.httpStatus <= 599:
        raise FaultSpecError("httpStatus must be an error status (400 to 599)")
    for flag in ("timeout", "dropResponseAfterCommit", "failBeforeCommit", "commit"):
        setattr(fault, flag, bool(_optional(spec, flag, bool, False)))
    fault.holdSeconds = float(_optional(spec, "holdSeconds", (int, float), 300.0))
    if not 0 < fault.holdSeconds <= 3600:
        raise FaultSpecError("holdSeconds must be between 0 and 3600")

    outcomes = [name for name in _OUTCOMES if getattr(fault, name)]
    if len(outcomes) > 1:
        raise FaultSpecError(f"choose one outcome, not {', '.join(outcomes)}")
    if fault.commit and not (fault.errorCode or fault.timeout):
        raise FaultSpecError("commit goes with errorCode or timeout")
    if fault.httpStatus is not None and not fault.errorCode:
        raise FaultSpecError("httpStatus goes with errorCode")
    return fault


def _optional(spec: dict, name: str, kind, default=None):
    value = spec.get(name, default)
    if value is None:
        return default
    # bool is an int in Python; a count or rate of `true` is a mistake, not 1.
    if isinstance(value, bool) and kind is not bool:
        raise FaultSpecError(f"{name} has the wrong type")
    if not isinstance(value, kind):
        raise FaultSpecError(f"{name} has the wrong type")
    return value


def _latency(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        low, high = value
    else:
        raise FaultSpecError("latencyMs is milliseconds, or [min, max] for a range")
    if not 0 <= low <= high <= 600_000:
        raise FaultSpecError("latencyMs must satisfy 0 <= min <= max <= 600000")
    return (low, high)

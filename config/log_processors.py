"""structlog processors shared by every process.

redact_secrets is the last line of defence for invariant 8 (docs/design.md): whatever a caller
binds (headers, a PG payload, settings), keys that name a secret and values that look
like credentials or card numbers never reach a log line.
"""

import re
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY_NAME = re.compile(
    r"(authorization|secret|password|passwd|token|api[_-]?key|cookie|session|signature|"
    r"card[_-]?number|cvc|cvv|pg_token|auth_token)",
    re.IGNORECASE,
)
# "Basic xxx", "Bearer xxx", "SECRET_KEY xxx", "KakaoAK xxx": credentials in free text.
_CREDENTIAL_IN_TEXT = re.compile(
    r"\b(Basic|Bearer|Token|SECRET_KEY|DEV_SECRET_KEY|KakaoAK)\s+[A-Za-z0-9._~+/=-]{8,}"
)
_SECRET_KEY_VALUE = re.compile(r"\b(test|live)_(g?sk)_[A-Za-z0-9_]+")
# 13 to 19 digits, optionally grouped: a card number (PAN). Masked numbers (1234-****) pass.
_PAN = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")

# structlog's own keys; never rewrite them.
_STRUCTURAL_KEYS = {"event", "level", "logger", "timestamp", "request_id", "exc_info"}


def _scrub_text(text: str) -> str:
    text = _CREDENTIAL_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_KEY_VALUE.sub(REDACTED, text)
    return _PAN.sub(REDACTED, text)


def scrub(value: Any, depth: int = 0) -> Any:
    """Return a copy of value with secrets replaced; bounded depth, never raises."""
    if depth > 8:
        return value
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _SECRET_KEY_NAME.search(k)
            else scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, depth + 1) for v in value)
    return value


def redact_secrets(logger: Any, method_name: str, event_dict: dict) -> dict:
    for key, value in list(event_dict.items()):
        if key in _STRUCTURAL_KEYS:
            if key == "event" and isinstance(value, str):
                event_dict[key] = _scrub_text(value)
            continue
        if _SECRET_KEY_NAME.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = scrub(value)
    return event_dict

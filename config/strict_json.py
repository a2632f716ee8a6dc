"""JSON from outside (API bodies, PG webhooks), read so that no input can become a 500.

json.loads accepts two things our databases and logs cannot take: nesting deep enough to
exhaust the stack (RecursionError) and "\\ud800"-style lone surrogates, which are valid
JSON escapes but not encodable as UTF-8 (MySQL and every log line would fail on them).
"""

import json


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(data: bytes | str):
    """Parsed JSON, or ValueError with a message fit for a 400. NaN and Infinity are
    refused, as DRF's own parser does."""
    try:
        parsed = json.loads(data, parse_constant=_no_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("JSON contains text that is not valid UTF-8 (a lone surrogate)") from exc
    except RecursionError as exc:  # pragma: no cover - json.loads already refused it
        raise ValueError("JSON nested too deeply") from exc
    return parsed

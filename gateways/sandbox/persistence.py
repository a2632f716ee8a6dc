"""Optional state file, so a restarted sandbox still knows every payment (`--state-file`).

Written atomically (a temporary file renamed over the old one) at most twice a second
while something changes, and once more at shutdown.
"""

import base64
import json
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from gateways.sandbox.idempotency import Entry

log = structlog.get_logger("gateways.sandbox")

FORMAT = 2


def _encode(value):
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(obj: dict):
    return datetime.fromisoformat(obj["$dt"]) if set(obj) == {"$dt"} else obj


def save(sandbox, path: Path | None) -> None:
    if path is None:
        return
    state = {
        "format": FORMAT,
        "clockOffsetSeconds": sandbox.clock.offset_seconds,
        "ledgers": {name: ledger.dump() for name, ledger in sandbox.ledgers.items()},
        "idempotency": [
            {
                "scope": list(scope),
                "createdAt": entry.created_at,
                "status": entry.status,
                "body": base64.b64encode(entry.body).decode(),
            }
            for scope, entry in sandbox.idempotency.entries.items()
            if not entry.processing
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, default=_encode, ensure_ascii=False)
    os.replace(tmp, path)


def load(sandbox, path: Path) -> None:
    """Load a state file. One the sandbox cannot read is set aside, never fatal: the
    sandbox starts empty and says where the old file went."""
    if not path.exists():
        return
    try:
        state = json.loads(path.read_text(), object_hook=_decode)
        if state.get("format") == 1:  # before other PGs: only Toss payments, at the top
            state = {**state, "format": FORMAT, "ledgers": {"toss": state.pop("toss")}}
        if state.get("format") != FORMAT:
            raise ValueError(f"unknown state format {state.get('format')!r}")
        _apply(sandbox, state)
    except (ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        path.rename(aside)
        log.warning(
            "sandbox_state_set_aside", path=str(path), moved_to=str(aside), error=str(exc)[:200]
        )
        sandbox.reset()


def _apply(sandbox, state: dict) -> None:
    sandbox.clock.offset = timedelta(seconds=state["clockOffsetSeconds"])
    for name, items in state["ledgers"].items():
        if name in sandbox.ledgers:
            sandbox.ledgers[name].load(items)
    for raw in state["idempotency"]:
        sandbox.idempotency.entries[tuple(raw["scope"])] = Entry(
            created_at=raw["createdAt"],
            processing=False,
            status=raw["status"],
            body=base64.b64decode(raw["body"]),
        )

"""Toss's Idempotency-Key store (docs/pg.md, Toss: idempotency).

Entries are keyed by (secret key, method, path, key): the body is not part of the match,
so one key reused for another payment's confirm replays the first payment's answer (T-5 in
docs/sandbox.md, Scenarios).
A key is remembered 15 days on the sandbox clock. While the first request runs, the
same key gets 409 IDEMPOTENT_REQUEST_PROCESSING. Whether a transient 4xx answer is
stored too is the `replay_errors` switch (GET/PUT /sandbox/toss/settings,
`run_pg_sandbox --toss-replay-errors`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateways.sandbox.clock import Clock

MAX_KEY_LENGTH = 300
LIFETIME = timedelta(days=15)

Scope = tuple[str, str, str, str]


@dataclass
class Entry:
    created_at: datetime
    processing: bool = True
    status: int = 0
    body: bytes = b""


class IdempotencyStore:
    def __init__(self, clock: Clock, *, replay_errors: bool = False):
        self.clock = clock
        self.entries: dict[Scope, Entry] = {}
        # Whether a transient 4xx answer (PROVIDER_ERROR ...) is stored and replayed to a
        # retry with the same key, as Toss might: its documentation does not say
        # (docs/pg.md). Off: only final answers are replayed.
        self.replay_errors = replay_errors

    def get(self, scope: Scope) -> Entry | None:
        entry = self.entries.get(scope)
        if entry is not None and self.clock.now() - entry.created_at >= LIFETIME:
            del self.entries[scope]
            return None
        return entry

    def begin(self, scope: Scope) -> None:
        self.entries[scope] = Entry(created_at=self.clock.now())

    def finish(self, scope: Scope, status: int, body: bytes) -> None:
        entry = self.entries.get(scope)
        if entry is not None:
            entry.processing, entry.status, entry.body = False, status, body

    def abort(self, scope: Scope) -> None:
        entry = self.entries.get(scope)
        if entry is not None and entry.processing:
            del self.entries[scope]

    def purge_expired(self) -> None:
        now = self.clock.now()
        for scope in [s for s, e in self.entries.items() if now - e.created_at >= LIFETIME]:
            del self.entries[scope]

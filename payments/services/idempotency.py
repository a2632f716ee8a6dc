"""Idempotency-Key for any POST that creates something (Stripe's rules).

The first request with a key stores its answer in the same transaction as what it
created, so two concurrent repeats still create one thing: the loser's transaction
fails on the key's unique index, rolls back, and answers the winner's stored answer. A
repeat with the same body gets the first answer; with another body, 422.

    answer, replayed = idempotent_create(member=m, key=k, create=lambda save: ...)

`create` runs only when the key is new, opens its own transaction, and calls `save(answer)`
inside it. payments/api/idempotency.py reads the key from the request.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError

from config.errors import DomainError
from payments.models import IdempotencyRecord


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_hash: str  # sha256 of the request's body, canonical JSON


def request_fingerprint(body: dict) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def idempotent_create(
    *,
    member,
    key: IdempotencyKey | None,
    create: Callable[[Callable[[dict], None]], dict],
    on_replay: Callable[[dict], dict] | None = None,
    status: int = 201,
) -> tuple[dict, bool]:
    """(the answer, whether it is a replay). Without a key, `create` simply runs.

    `on_replay` sees a stored answer before it is replayed, a concurrent winner's too, so
    a caller can finish what a dead process left undone (or say the winner has not
    finished yet).
    """
    if key is None:
        return create(lambda answer: None), False
    stored = idempotency_replay(member=member, key=key)
    if stored is not None:
        return (on_replay(stored) if on_replay else stored), True

    def save(answer: dict) -> None:
        IdempotencyRecord.objects.create(
            member=member,
            key=key.key,
            request_hash=key.request_hash,
            response_status=status,
            response_body=answer,
        )

    try:
        return create(save), False
    except IntegrityError:
        # A concurrent request with the same key won: ours rolled back with its key row.
        stored = idempotency_replay(member=member, key=key)
        if stored is None:
            raise
        return (on_replay(stored) if on_replay else stored), True


def idempotency_replay(*, member, key: IdempotencyKey) -> dict | None:
    """The stored answer for this key, None if it is new; IDEMPOTENCY_KEY_REUSED if the
    key came with another body."""
    record = IdempotencyRecord.objects.filter(member=member, key=key.key).first()
    if record is None:
        return None
    if record.request_hash != key.request_hash:
        raise DomainError(
            "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used with another body."
        )
    return record.response_body


def idempotency_update(*, member, key: IdempotencyKey | None, answer: dict) -> None:
    """Replace the stored answer (run it in the transaction that changes what it says)."""
    if key is not None:
        IdempotencyRecord.objects.filter(member=member, key=key.key).update(response_body=answer)


def idempotency_forget(*, member, key: IdempotencyKey | None) -> None:
    """Drop the key: a retry with it runs afresh (the first attempt failed, nothing kept)."""
    if key is not None:
        IdempotencyRecord.objects.filter(member=member, key=key.key).delete()

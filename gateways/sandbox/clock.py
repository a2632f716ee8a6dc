"""A clock the tests can move: every sandbox timer (payment windows, idempotency-key
lifetime, webhook retries) reads it, so 10 minutes or 3 days pass in one call."""

from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


class Clock:
    def __init__(self, offset_seconds: float = 0.0):
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return datetime.now(KST) + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += timedelta(seconds=seconds)

    @property
    def offset_seconds(self) -> float:
        return self.offset.total_seconds()


def iso(moment: datetime | None) -> str | None:
    """Toss's timestamp format: second precision with the +09:00 offset."""
    if moment is None:
        return None
    return moment.astimezone(KST).replace(microsecond=0).isoformat()

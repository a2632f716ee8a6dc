"""Database connections around slow waits."""

from django.db import connections


def release_db_connections() -> None:
    """Give database connections back before waiting on something slow (a PG, a notice).

    A request or worker thread waiting seconds for a PG must not hold a connection the
    whole time, or throughput is capped at connections / latency (and MariaDB's
    max_connections). Django opens a fresh one at the next query. Connections inside a
    transaction are kept (a test's wrapping transaction; a real one is refused anyway).
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()

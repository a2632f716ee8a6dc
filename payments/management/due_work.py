"""What the commands that run a periodic job's work now have in common: `--limit`."""

import argparse

from django.core.management.base import BaseCommand


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


class DueWorkCommand(BaseCommand):
    """Does now, through the same service, what beat runs periodically."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=at_least_one, default=None, help="at most this many (default: all due)"
        )

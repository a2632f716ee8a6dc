from django.core.management.base import BaseCommand

from payments.services.compensation import compensation_retry_due


class Command(BaseCommand):
    help = "Finish stock restores that failed (re-checking each payment at the PG first)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None)

    def handle(self, *args, limit=None, **options):
        counts = compensation_retry_due(actor="command", limit=limit)
        self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()))

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.services.recovery import new_lease_owner, recovery_attempt, recovery_claim


class Command(BaseCommand):
    help = "Ask the PG about due UNKNOWN and stale EXECUTING payments and finish them."

    def add_arguments(self, parser):
        parser.add_argument("--order-id", help="just this payment, whatever its schedule")
        parser.add_argument(
            "--dry-run", action="store_true", help="ask the PG, decide, change nothing"
        )
        parser.add_argument(
            "--limit", type=int, default=settings.RECOVERY_BATCH_SIZE, help="per batch"
        )
        parser.add_argument(
            "--once", action="store_true", help="one batch, not until nothing is due"
        )

    def handle(self, *args, order_id=None, dry_run=False, limit=0, once=False, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        owner = new_lease_owner()
        done = 0
        seen: set[int] = set()
        while True:
            claimed = [
                i
                for i in recovery_claim(owner=owner, limit=limit, order_id=order_id)
                if i not in seen
            ]
            if not claimed:
                break
            for event_id in claimed:
                seen.add(event_id)
                result = recovery_attempt(
                    event_id=event_id, owner=owner, actor="command", dry_run=dry_run
                )
                if result is not None:
                    done += 1
                    verb = "would" if dry_run else "did"
                    self.stdout.write(
                        f"{result.order_id}: {verb} {result.action} -> {result.status}"
                    )
            if once or order_id or dry_run:
                break
        if order_id and not done:
            raise CommandError(
                f"{order_id} is not a payment awaiting recovery (or another worker holds it)"
            )
        self.stdout.write(
            f"{done} payment(s) {'examined' if dry_run else 'recovered or rescheduled'}."
        )

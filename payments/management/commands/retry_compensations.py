from payments.management.due_work import DueWorkCommand
from payments.services.compensation import compensation_retry_due


class Command(DueWorkCommand):
    help = "Finish stock restores that failed (re-checking each payment at the PG first)."

    def handle(self, *args, limit=None, **options):
        counts = compensation_retry_due(actor="command", limit=limit)
        self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()))

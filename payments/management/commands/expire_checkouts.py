from payments.management.due_work import DueWorkCommand
from payments.services.expiry import payment_expire_abandoned


class Command(DueWorkCommand):
    help = "Fail NOT_STARTED checkouts past the PG's windows and give their stock back."

    def handle(self, *args, limit=None, **options):
        expired = payment_expire_abandoned(actor="command", limit=limit)
        self.stdout.write(f"{expired} abandoned checkout(s) expired and their stock released.")

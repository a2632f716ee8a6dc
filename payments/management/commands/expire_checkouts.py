from django.core.management.base import BaseCommand

from payments.services.expiry import payment_expire_abandoned


class Command(BaseCommand):
    help = "Fail NOT_STARTED checkouts past the PG's windows and give their stock back."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None)

    def handle(self, *args, limit=None, **options):
        expired = payment_expire_abandoned(actor="command", limit=limit)
        self.stdout.write(f"{expired} abandoned checkout(s) expired and their stock released.")

from django.core.management.base import BaseCommand, CommandError

from ledger.check import ledger_check


class Command(BaseCommand):
    help = (
        "Prove the books: every entry sums to zero, the total is zero, every cached "
        "balance equals its account's postings. Prints what differs; exit 1 if anything does."
    )

    def handle(self, *args, **options):
        report = ledger_check()
        for problem in report.problems:
            self.stderr.write(problem)
        summary = (
            f"{report.entries} entries, {report.accounts} accounts, "
            f"postings total {report.total:+d}"
        )
        if not report.ok:
            raise CommandError(f"the books do not balance ({len(report.problems)}): {summary}")
        self.stdout.write(f"the books balance: {summary}")

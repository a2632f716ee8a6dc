from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from payments.services.reconcile import FIXABLE, reconcile_day

PROGRESS_EVERY = 10_000
# Refused before the run starts: nothing at all was written.
REFUSED = frozenset({"BAD_SETTLEMENT_FILE", "SETTLEMENT_FILE_REQUIRED", "SETTLEMENT_FILE_MISSING"})


class Command(BaseCommand):
    help = (
        "Reconcile one gateway's day (Korean date) with the PG's records: its API (Toss) "
        "or the settlement file downloaded from its merchant site (NicePay, KakaoPay)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--gateway", required=True, choices=sorted(settings.PAYMENT_GATEWAYS))
        parser.add_argument("--date", required=True, help="the Korean date, YYYY-MM-DD")
        parser.add_argument("--file", help="the PG's settlement file (NicePay, KakaoPay)")
        parser.add_argument(
            "--dry-run", action="store_true", help="compare and report; fix and write nothing"
        )

    def handle(self, *args, gateway, date: str, file=None, dry_run=False, **options):
        day = _day(date)
        path = Path(file) if file else None
        if path is not None and not path.is_file():
            raise CommandError(f"no such file: {path}")
        shown = {"next": PROGRESS_EVERY}

        def progress(records: int) -> None:
            if records >= shown["next"]:
                self.stderr.write(f"... {records} records compared")
                shown["next"] += PROGRESS_EVERY

        try:
            report = reconcile_day(
                gateway=gateway, day=day, path=path, dry_run=dry_run, progress=progress
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}; {_left(exc.code)}") from exc
        for finding in report.new:
            if dry_run:
                status = "would be fixed" if finding.kind in FIXABLE else "would stay OPEN"
            else:
                status = finding.status
            self.stdout.write(
                f"{finding.kind} {finding.order_id} ({finding.reference}): {status}"
                f" - {finding.detail or finding.kind}"
            )
        self.stdout.write(
            f"{gateway} {day}: {report.records} PG records, {report.matched} matched, "
            f"{len(report.new)} new difference(s) ({report.fixed} fixed, {report.open} open), "
            f"{report.known} known from an earlier run, {report.resolved} now in line"
            + (" (dry run: nothing written)" if dry_run else "")
        )
        if report.run is not None:
            run = report.run
            self.stdout.write(
                f"fees {run.fee}, payout {run.payout} on {run.payout_date} "
                f"(expected {run.expected_payout})"
            )


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"--date must be YYYY-MM-DD, not {raw!r}") from exc


def _left(code: str) -> str:
    if code in REFUSED:
        return "nothing was applied"
    # The PG stopped answering mid-run: each fix made is whole on its own and kept.
    return "the run is FAILED, what it fixed is kept; run it again once the PG answers"

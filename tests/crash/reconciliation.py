"""The crash test's last step: reconcile every gateway's days of the run with the PGs'
own records, as the nightly job would, and report what it found."""

from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from django.utils import timezone

from payments.models import Discrepancy, PaymentEvent, Refund
from payments.services.reconcile import reconcile_day
from tests.crash.shop import GATEWAYS

KST = ZoneInfo("Asia/Seoul")


def run_days() -> set:
    """The Korean days the run's payments and refunds happened on."""
    moments = [timezone.now()]
    moments += PaymentEvent.objects.exclude(approved_at=None).values_list("approved_at", flat=True)
    moments += Refund.objects.exclude(completed_at=None).values_list("completed_at", flat=True)
    return {moment.astimezone(KST).date() for moment in moments}


def reconcile_run(sandbox_base: str, directory: Path) -> dict:
    """Reconcile each gateway's days; per gateway: records, matched, and the findings."""
    summary = {}
    for gateway in GATEWAYS:
        records = matched = 0
        for day in sorted(run_days()):
            path = None
            if gateway != "toss":
                path = directory / f"{gateway}-{day}.csv"
                answer = requests.get(
                    f"{sandbox_base}/sandbox/{gateway}/settlement-file",
                    params={"date": day.isoformat()},
                    timeout=30,
                )
                answer.raise_for_status()
                path.write_bytes(answer.content)
            report = reconcile_day(gateway=gateway, day=day, path=path)
            records, matched = records + report.records, matched + report.matched
        found = list(
            Discrepancy.objects.filter(run__gateway=gateway).values_list(
                "kind", "status", "order_id", "detail"
            )
        )
        summary[gateway] = {"records": records, "matched": matched, "found": found}
    return summary

"""`manage.py reconcile`: what an operator types and reads. (What a run finds and fixes:
services/test_reconcile.py.)"""

from io import StringIO
from unittest import mock

import pytest
import requests
from django.core.management import CommandError, call_command

from payments.models import Discrepancy, PaymentEvent, ReconciliationRun
from tests.payments.refund_helpers import paid
from tests.payments.services.test_reconcile import authenticated, difference, product, today

pytestmark = [pytest.mark.django_db]
__all__ = ["product"]  # the fixture, used by name


def reconcile(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("reconcile", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def settlement_file(sandbox, gateway: str, tmp_path):
    answer = requests.get(
        f"{sandbox.base}/sandbox/{gateway}/settlement-file",
        params={"date": today().isoformat()},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    path = tmp_path / f"{gateway}.csv"
    path.write_bytes(answer.content)
    return path


def test_a_file_day_reports_each_difference_and_the_totals(
    member_client, sandbox, gateways, product, tmp_path
):
    paid(member_client, sandbox, [(product.id, 1)], "nicepay")
    missed, _ = authenticated(member_client, sandbox, product, "nicepay")
    difference(sandbox, "nicepay", kind="approve_unseen", orderId=missed.order_id)
    path = settlement_file(sandbox, "nicepay", tmp_path)
    day = today().isoformat()

    with mock.patch("payments.management.commands.reconcile.PROGRESS_EVERY", 1):
        out, err = reconcile("--gateway", "nicepay", "--date", day, "--file", str(path))

    assert f"APPROVED_NOT_SUCCESS {missed.order_id}" in out and ": FIXED - " in out
    assert f"nicepay {day}: 2 PG records, 1 matched, 1 new difference(s) (1 fixed, 0 open)" in out
    run = ReconciliationRun.objects.get(gateway="nicepay")
    assert f"fees {run.fee}, payout {run.payout} on {run.payout_date}" in out
    assert err == "... 2 records compared\n"  # after each chunk of records

    out, _ = reconcile("--gateway", "nicepay", "--date", day, "--file", str(path))

    # The fixed payment is SUCCESS now: in line with the PG, and nothing new is found.
    assert f"nicepay {day}: 2 PG records, 2 matched, 0 new difference(s)" in out
    assert Discrepancy.objects.count() == 1


def test_a_dry_run_says_what_it_would_do_and_writes_nothing(
    member_client, sandbox, gateways, product, tmp_path
):
    missed, _ = authenticated(member_client, sandbox, product, "toss")
    difference(sandbox, "toss", kind="approve_unseen", orderId=missed.order_id)

    out, _ = reconcile("--gateway", "toss", "--date", today().isoformat(), "--dry-run")

    assert f"APPROVED_NOT_SUCCESS {missed.order_id}" in out and "would be fixed" in out
    assert out.rstrip().endswith("(dry run: nothing written)")
    assert not ReconciliationRun.objects.exists() and not Discrepancy.objects.exists()
    assert PaymentEvent.objects.get(pk=missed.pk).status == "NOT_STARTED"


def test_bad_input_is_refused_with_a_reason(sandbox, gateways, tmp_path):
    day = today().isoformat()
    bad = tmp_path / "bad.csv"
    bad.write_text("merchant_id,day\r\n")
    cases = [
        (["--gateway", "toss", "--date", "2026-13-01"], "--date must be YYYY-MM-DD"),
        (["--gateway", "nicepay", "--date", day], "SETTLEMENT_FILE_REQUIRED"),
        (["--gateway", "nicepay", "--date", day, "--file", str(tmp_path / "no.csv")], "no such"),
        (["--gateway", "kakaopay", "--date", day, "--file", str(bad)], "BAD_SETTLEMENT_FILE"),
    ]
    for args, reason in cases:
        with pytest.raises(CommandError) as refused:
            reconcile(*args)
        assert reason in str(refused.value), (args, str(refused.value))
    assert "line 1:" in str(refused.value) and "nothing was applied" in str(refused.value)
    # Only the refused file's attempt is on record, for the admin.
    assert [(r.gateway, r.status) for r in ReconciliationRun.objects.all()] == [
        ("kakaopay", "REFUSED")
    ]

"""Reconciliation against the PG sandbox, through each PG: a day with every kind of
difference, found, the safe ones fixed through the payment and refund paths, the rest
left open; and a second run of the day that changes nothing."""

from datetime import timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import requests
from django.utils import timezone

from config.errors import DomainError
from gateways.settlement_file import HEADER
from ledger import accounts
from ledger.check import ledger_check
from ledger.models import JournalEntry
from payments.models import (
    Discrepancy,
    PaymentEvent,
    PaymentHistory,
    ReconciliationRun,
    Refund,
    RefundHistory,
)
from payments.services.expiry import payment_expire_abandoned
from payments.services.reconcile import reconcile_day, reconcile_yesterday
from payments.services.reconcile_books import books_payouts_due
from payments.services.refund import refund_execute
from products.models import Product
from tests.factories import ProductFactory, SellerFactory
from tests.gateways.sandbox.test_reconciliation_contract import PGS
from tests.payments.helpers import checkout, confirm, window_key
from tests.payments.refund_helpers import balance, cancel, paid, relay_all

pytestmark = [pytest.mark.django_db]
GATEWAYS = ["toss", "nicepay", "kakaopay"]
KST = ZoneInfo("Asia/Seoul")


@pytest.fixture
def product():
    return ProductFactory(price=5000, stock=50, seller=SellerFactory(commission_rate="0.10"))


def today():
    return timezone.now().astimezone(KST).date()


def difference(sandbox, gateway: str, **body) -> dict:
    answer = requests.post(f"{sandbox.base}/sandbox/{gateway}/differences", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def run(sandbox, gateway: str, tmp_path, **kwargs):
    path = None
    if gateway != "toss":
        path = tmp_path / f"{gateway}.csv"
        day = today().isoformat()
        answer = requests.get(
            f"{sandbox.base}/sandbox/{gateway}/settlement-file", params={"date": day}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        path.write_bytes(answer.content)
    return reconcile_day(gateway=gateway, day=today(), path=path, **kwargs)


def authenticated(client, sandbox, product, gateway: str, quantity: int = 1) -> PaymentEvent:
    """A checkout whose buyer authenticated in the PG's window; the confirm never came."""
    answer = checkout(client, [(product.id, quantity)], gateway).json()
    key = window_key(sandbox, gateway, answer)
    event = PaymentEvent.objects.get(order_id=answer["orderId"])
    return event, key


def found(run_row) -> dict[str, list[tuple[str, str]]]:
    rows = Discrepancy.objects.filter(run=run_row).order_by("id")
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row.order_id, []).append((row.kind, row.status))
    return out


def counts() -> tuple:
    return (
        Discrepancy.objects.count(),
        PaymentHistory.objects.count(),
        RefundHistory.objects.count(),
        Refund.objects.count(),
        JournalEntry.objects.count(),
        tuple(PaymentEvent.objects.order_by("pk").values_list("status", flat=True)),
        tuple(Refund.objects.order_by("pk").values_list("status", flat=True)),
    )


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_a_day_with_every_kind_of_difference(
    member_client, member, sandbox, gateways, product, gateway, tmp_path
):
    # In line: a paid order, and one partly refunded through our API.
    plain = paid(member_client, sandbox, [(product.id, 1)], gateway)
    refunded = paid(member_client, sandbox, [(product.id, 2)], gateway)
    assert cancel(member_client, refunded.order_id, {"amount": 5000}).status_code == 200
    # Approved at the PG, never confirmed here (NOT_STARTED): fixed to SUCCESS.
    missed, _ = authenticated(member_client, sandbox, product, gateway)
    difference(sandbox, gateway, kind="approve_unseen", orderId=missed.order_id)
    # The confirm's answer was lost after the PG approved (UNKNOWN): fixed to SUCCESS.
    lost, key = authenticated(member_client, sandbox, product, gateway)
    confirm_op = "confirm" if gateway == "toss" else "approve"
    rules = [
        sandbox.fault(
            gateway=gateway,
            operation=confirm_op,
            orderId=lost.order_id,
            dropResponseAfterCommit=True,
        )
    ] + [  # and no look at the PG answers either, so the confirm cannot learn the outcome
        sandbox.fault(gateway=gateway, operation=op, orderId=lost.order_id, failBeforeCommit=True)
        for op in {"toss": ["lookup"], "nicepay": ["lookup", "netcancel"]}.get(gateway, ["lookup"])
    ]
    assert confirm(member_client, lost.order_id, key, lost.total_amount).status_code == 202
    for rule in rules:
        sandbox.http.delete(f"{sandbox.base}/sandbox/faults/{rule['id']}").raise_for_status()
    assert PaymentEvent.objects.get(pk=lost.pk).status == "UNKNOWN"
    # Abandoned here (FAILURE, stock back), approved at the PG: refunded (false failure).
    abandoned, _ = authenticated(member_client, sandbox, product, gateway)
    PaymentEvent.objects.filter(pk=abandoned.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    assert payment_expire_abandoned(actor="test") == 1
    difference(sandbox, gateway, kind="approve_unseen", orderId=abandoned.order_id)
    # Cancelled in full in the PG's dashboard: a Refund with actor pg, stock back.
    dashboard = paid(member_client, sandbox, [(product.id, 1)], gateway)
    difference(sandbox, gateway, kind="dashboard_cancel", orderId=dashboard.order_id)
    # Cancelled in part in the dashboard: recorded, left for an operator (which lines?).
    partial = paid(member_client, sandbox, [(product.id, 2)], gateway)
    difference(sandbox, gateway, kind="dashboard_cancel", orderId=partial.order_id, amount=3000)
    # The PG's record shows another amount: open.
    changed = paid(member_client, sandbox, [(product.id, 1)], gateway)
    difference(sandbox, gateway, kind="amount_changed", orderId=changed.order_id, amount=4000)
    # A payment at the PG we never had: open.
    stranger = PGS[gateway](sandbox).paid(7000)
    # Ours, SUCCESS, that the PG never saw; a refund of ours the PG never made: open.
    ghost = PaymentEvent.objects.create(
        order_id=f"ghost-{gateway}-1",
        buyer=member,
        gateway=gateway,
        order_name="x",
        total_amount=2000,
        payment_key=f"ghost-key-{gateway}",
        status="SUCCESS",
        approved_at=timezone.now(),
        pg_idempotency_key=f"ghost-{gateway}",
    )
    ghost_refund = Refund.objects.create(
        event=plain,
        status="SUCCEEDED",
        pg_amount=1000,
        reason="x",
        actor="test",
        pg_idempotency_key=f"ghost-refund-{gateway}",
        pg_transaction_key=f"ghost-tx-{gateway}",
        completed_at=timezone.now(),
    )
    relay_all()
    stock_before = Product.objects.get(pk=product.pk).stock

    report = run(sandbox, gateway, tmp_path)
    # The false failure's refund is sent by a task (queued by the settle path): run it.
    false_failure = Refund.objects.get(event=abandoned)
    assert (false_failure.status, false_failure.actor) == ("REQUESTED", "system")
    refund_execute(refund_id=false_failure.pk, actor="system")
    relay_all()

    kinds = found(report.run)
    assert kinds.pop(missed.order_id) == [("APPROVED_NOT_SUCCESS", "FIXED")]
    assert kinds.pop(lost.order_id) == [("APPROVED_NOT_SUCCESS", "FIXED")]
    assert kinds.pop(abandoned.order_id) == [("APPROVED_NOT_SUCCESS", "FIXED")]
    assert kinds.pop(dashboard.order_id) == [("CANCEL_NOT_OURS", "FIXED")]
    assert kinds.pop(partial.order_id) == [("CANCEL_NOT_OURS", "OPEN")]
    assert kinds.pop(changed.order_id) == [("AMOUNT_MISMATCH", "OPEN")]
    assert kinds.pop(stranger) == [("UNKNOWN_ORDER", "OPEN")]
    assert kinds.pop(ghost.order_id) == [("MISSING_AT_PG", "OPEN")]
    assert kinds.pop(plain.order_id) == [("REFUND_MISSING_AT_PG", "OPEN")]
    assert kinds == {}  # the refunded order matched, approval and cancel
    assert (report.fixed, report.open) == (4, 5)

    def status(event):
        return PaymentEvent.objects.get(pk=event.pk).status

    assert status(missed) == status(lost) == "SUCCESS"
    assert PaymentEvent.objects.get(pk=missed.pk).payment_key  # the PG's key, adopted
    assert status(abandoned) == "FAILURE"
    assert Refund.objects.get(event=abandoned).status == "SUCCEEDED"  # the false failure's
    assert status(dashboard) == "CANCELED"
    assert Refund.objects.get(event=dashboard).actor == "pg"
    assert Refund.objects.get(event=partial).status == "NEEDS_ATTENTION"
    # Each fix left its history: the run's look and the outcome it recorded.
    assert PaymentHistory.objects.filter(event=missed, to_status="SUCCESS", actor="reconciliation")
    assert PaymentHistory.objects.filter(event=lost, to_status="SUCCESS")
    # Stock: the missed and lost sales keep theirs; the dashboard cancel gave its unit back.
    assert Product.objects.get(pk=product.pk).stock == stock_before + 1
    assert ledger_check().ok
    # The books of the day: fees taken from what the PG owes, the payout still to come.
    entry = JournalEntry.objects.get(kind="PG_FEES", reference=f"{gateway}:{today()}")
    assert entry.postings.get(account__code=accounts.pg_fees(gateway)).amount == report.run.fee
    assert report.run.fee > 0 and report.run.payout == report.run.pg_amount - report.run.fee
    assert report.run.expected_payout != report.run.payout  # the open differences
    assert balance(accounts.pg_fees(gateway)) == report.run.fee

    before = counts()
    again = run(sandbox, gateway, tmp_path)

    assert counts() == before
    assert (len(again.new), again.known, again.resolved) == (0, 5, 0)
    assert ReconciliationRun.objects.get(gateway=gateway, day=today()).times_run == 2
    assert Refund.objects.get(pk=ghost_refund.pk).status == "SUCCEEDED"  # left for a person


def test_a_dry_run_reports_and_changes_nothing(member_client, sandbox, gateways, product, tmp_path):
    missed, _ = authenticated(member_client, sandbox, product, "toss")
    difference(sandbox, "toss", kind="approve_unseen", orderId=missed.order_id)
    before = counts()

    report = run(sandbox, "toss", tmp_path, dry_run=True)

    assert [(f.kind, f.order_id) for f in report.new] == [("APPROVED_NOT_SUCCESS", missed.order_id)]
    assert counts() == before
    assert not ReconciliationRun.objects.exists()
    assert PaymentEvent.objects.get(pk=missed.pk).status == "NOT_STARTED"


def _column(row: str, name: str, value: str) -> str:
    fields = row.split(",")
    fields[HEADER.index(name)] = value
    return ",".join(fields)


@pytest.mark.parametrize("gateway", ["nicepay", "kakaopay"])
@pytest.mark.parametrize(
    ("spoil", "line", "reason"),
    [
        (lambda rows: [rows[0].replace("fee", "fees"), *rows[1:]], 1, "header"),
        (lambda rows: [rows[0], rows[1] + ",x", *rows[2:]], 2, "columns"),
        (lambda rows: [*rows, rows[1]], 3, "duplicate"),
        (lambda rows: [rows[0], _column(rows[1], "amount", "12.5")], 2, "whole number"),
        (lambda rows: [rows[0], "someone-else" + rows[1][rows[1].index(",") :]], 2, "ours"),
    ],
    ids=["header", "columns", "duplicate", "number", "merchant"],
)
def test_a_bad_file_is_refused_with_its_line_and_nothing_is_written(
    member_client, sandbox, gateways, product, tmp_path, gateway, spoil, line, reason
):
    missed, _ = authenticated(member_client, sandbox, product, gateway)
    difference(sandbox, gateway, kind="approve_unseen", orderId=missed.order_id)
    good = tmp_path / "good.csv"
    answer = requests.get(
        f"{sandbox.base}/sandbox/{gateway}/settlement-file",
        params={"date": today().isoformat()},
        timeout=5,
    )
    good.write_bytes(answer.content)
    rows = good.read_text().splitlines()
    assert len(rows) == 2  # the header and the approval
    bad = tmp_path / "bad.csv"
    bad.write_text("\r\n".join(spoil(rows)) + "\r\n")
    before = counts()

    with pytest.raises(DomainError) as refused:
        reconcile_day(gateway=gateway, day=today(), path=bad)

    assert refused.value.code == "BAD_SETTLEMENT_FILE"
    assert refused.value.message.startswith(f"line {line}:"), refused.value.message
    assert reason in refused.value.message
    assert counts() == before
    assert PaymentEvent.objects.get(pk=missed.pk).status == "NOT_STARTED"
    # The admin shows the refusal; nothing of the file was counted or booked.
    refusal = ReconciliationRun.objects.get()
    assert (refusal.status, refusal.source, refusal.records) == ("REFUSED", "bad.csv", 0)
    assert refusal.error == refused.value.message and not refusal.fees_booked


def test_the_payout_is_booked_on_its_payout_date_and_the_books_balance(
    member_client, sandbox, gateways, product, tmp_path
):
    paid(member_client, sandbox, [(product.id, 2)], "toss")
    relay_all()
    report = run(sandbox, "toss", tmp_path)
    day = report.run
    assert day.payout_date > today() and not day.payout_booked
    assert books_payouts_due(today=day.payout_date - timedelta(days=1)) == 0

    assert books_payouts_due(today=day.payout_date) == 1
    assert books_payouts_due(today=day.payout_date) == 0  # once

    assert balance(accounts.BANK) == day.payout == 10000 - day.fee
    assert balance(accounts.pg_receivable("toss")) == 0  # paid, less fees, paid out
    assert ledger_check().ok


def test_the_nightly_job_reconciles_yesterday_for_every_gateway(
    member_client, sandbox, gateways, settings, product, tmp_path
):
    for gateway in ("nicepay", "kakaopay"):
        url = f"{sandbox.base}/sandbox/{gateway}/settlement-file?date={{date}}"
        settings.PAYMENT_GATEWAYS[gateway]["SETTLEMENT_FILE_URL"] = url
    settings.SETTLEMENT_FILE_DIR = str(tmp_path)
    paid(member_client, sandbox, [(product.id, 1)], "kakaopay")

    # Run tomorrow morning: "yesterday" is today.
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(days=1)):
        results = reconcile_yesterday()

    assert set(results) == set(settings.PAYMENT_GATEWAYS)
    runs = ReconciliationRun.objects.filter(day=today())
    assert {r.gateway: r.status for r in runs} == dict.fromkeys(settings.PAYMENT_GATEWAYS, "DONE")
    assert runs.get(gateway="kakaopay").records == 1
    assert (tmp_path / f"kakaopay-{today()}.csv").is_file()
    assert not Discrepancy.objects.exists()


def test_the_nightly_job_records_a_missing_file_and_goes_on(
    member_client, sandbox, gateways, settings, product, tmp_path
):
    settings.PAYMENT_GATEWAYS["nicepay"]["SETTLEMENT_FILE_URL"] = f"{sandbox.base}/nowhere/{{date}}"
    settings.PAYMENT_GATEWAYS["kakaopay"]["SETTLEMENT_FILE_URL"] = ""  # an operator puts it
    settings.SETTLEMENT_FILE_DIR = str(tmp_path)

    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(days=1)):
        results = reconcile_yesterday()

    runs = {r.gateway: r for r in ReconciliationRun.objects.filter(day=today())}
    assert {g: r.status for g, r in runs.items()} == {
        "toss": "DONE",
        "nicepay": "FAILED",
        "kakaopay": "FAILED",
    }
    for gateway in ("nicepay", "kakaopay"):
        assert results[gateway].startswith("SETTLEMENT_FILE_MISSING"), results
        assert runs[gateway].error and runs[gateway].times_run == 1
    assert not list(tmp_path.iterdir())  # no half-downloaded file left behind

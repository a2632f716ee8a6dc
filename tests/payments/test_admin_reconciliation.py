"""Reconciliation in the admin: the runs and their discrepancies (read-only lists and
pages), and an operator's two actions on an OPEN discrepancy, re-check at the PG and
resolve with a note, each through payments.services.reconcile_operator and only with
payments.resolve_discrepancy. (What the services do: services/test_reconcile.py.)"""

from datetime import date
from unittest import mock

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from payments.models import Discrepancy, PaymentEvent, ReconciliationRun
from payments.services.operator import ActionResult
from payments.services.reconcile_fix import NOTE
from payments.states import transition
from tests.factories import MemberFactory

pytestmark = [pytest.mark.django_db]
RUNS = "/admin/payments/reconciliationrun/"
DISCREPANCIES = "/admin/payments/discrepancy/"
PAYMENTS = "/admin/payments/paymentevent/"
VIEW = ["view_reconciliationrun", "view_discrepancy", "view_paymentevent"]
RECHECK = "payments.services.reconcile_operator.payment_operator_recheck"


def staff_with(client, *codenames):
    """A staff member with exactly these payments permissions, logged in on `client`."""
    person = MemberFactory(is_staff=True)
    permissions = Permission.objects.filter(
        content_type__app_label="payments", codename__in=codenames
    )
    assert permissions.count() == len(codenames), codenames
    person.user_permissions.add(*permissions)
    client.force_login(person)
    return person


@pytest.fixture
def resolver(client):
    return staff_with(client, *VIEW, "resolve_discrepancy", "refund_paymentevent")


@pytest.fixture
def looker(client):
    """May see the reconciliation, may not act on it."""
    return staff_with(client, *VIEW)


@pytest.fixture
def paid(member) -> PaymentEvent:
    event = PaymentEvent.objects.create(
        order_id="ord-recon-1",
        buyer=member,
        gateway="toss",
        order_name="x",
        total_amount=10000,
        pg_idempotency_key="recon-1",
    )
    for to in ("EXECUTING", "SUCCESS"):
        assert transition(event.pk, to=to, reason="TEST", actor="test")
    return PaymentEvent.objects.get(pk=event.pk)


@pytest.fixture
def run() -> ReconciliationRun:
    return ReconciliationRun.objects.create(
        gateway="toss",
        day=date(2026, 3, 2),
        status="DONE",
        source="API",
        times_run=1,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        records=12,
        matched=10,
        pg_amount=120000,
        fee=3600,
        payout=116400,
        expected_payout=126100,
        payout_date=date(2026, 3, 4),
        fees_booked=True,
    )


def discrepancy(run, reference, *, status="OPEN", kind="AMOUNT_MISMATCH", event=None, **more):
    return Discrepancy.objects.create(
        run=run,
        kind=kind,
        reference=reference,
        status=status,
        order_id=event.order_id if event else f"ord-{reference}",
        event=event,
        pg_amount=more.pop("pg_amount", 9000),
        our_amount=more.pop("our_amount", 10000),
        detail=more.pop("detail", f"found {reference}"),
        **more,
    )


@pytest.fixture
def found(run, paid) -> dict[str, Discrepancy]:
    """One of each status; the OPEN mismatch is about a payment of ours."""
    return {
        "fixed": discrepancy(run, "tx-fixed", status="FIXED", kind="APPROVED_NOT_SUCCESS"),
        "open": discrepancy(run, "tx-open", event=paid, detail="PG 9000, ours 10000"),
        "unknown": discrepancy(run, "tx-unknown", kind="UNKNOWN_ORDER", our_amount=None),
        "resolved": discrepancy(
            run, "tx-resolved", status="RESOLVED", resolved_by="someone", resolution="done"
        ),
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- pages ----------------------------------------------------------------------------


def test_both_groups_may_view_reconciliation_and_only_operators_resolve():
    for name in ("payment viewers", "payment operators"):
        codenames = set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))
        assert {"view_reconciliationrun", "view_discrepancy"} <= codenames, name
        assert not {"change_discrepancy", "delete_reconciliationrun"} & codenames, name
        assert ("resolve_discrepancy" in codenames) == (name == "payment operators")


def test_the_runs_list_shows_counts_totals_and_the_payout_difference(client, resolver, found):
    page = client.get(RUNS)

    assert page.status_code == 200
    [row] = page.context["cl"].result_list
    assert (row.fixed_n, row.open_n, row.difference) == (1, 2, 116400 - 126100)
    text = page.content.decode()
    for shown in ("toss", "116400", "126100", "-9700", "3600", "Payout difference"):
        assert shown in text, shown
    run = found["open"].run
    assert f"{DISCREPANCIES}?run__id__exact={run.pk}&amp;status__exact=OPEN" in text
    for query in ({"gateway": "toss"}, {"status__exact": "DONE"}, {"day": "2026-03-02"}):
        filtered = client.get(RUNS, query)
        assert filtered.status_code == 200 and len(filtered.context["cl"].result_list) == 1
    assert not client.get(RUNS, {"gateway": "nicepay"}).context["cl"].result_list

    detail = client.get(f"{RUNS}{run.pk}/change/")
    assert detail.status_code == 200
    text = detail.content.decode()
    assert f"{DISCREPANCIES}?run__id__exact={run.pk}" in text and "-9700" in text
    assert 'name="_save"' not in text


def test_the_discrepancy_list_puts_open_ones_first_and_links_our_payments(
    client, resolver, found, paid
):
    page = client.get(DISCREPANCIES)

    assert page.status_code == 200
    statuses = [row.status for row in page.context["cl"].result_list]
    assert statuses[:2] == ["OPEN", "OPEN"] and sorted(statuses[2:]) == ["FIXED", "RESOLVED"]
    text = page.content.decode()
    for shown in ("금액 불일치", "우리에게 없는 주문", "미해결", "PG 9000, ours 10000", "someone"):
        assert shown in text, shown
    assert f'<a href="{PAYMENTS}{paid.pk}/change/">{paid.order_id}</a>' in text
    assert "PG에서 다시 확인" in text and "해결로 표시" in text  # the actions

    def listed(query):
        answer = client.get(DISCREPANCIES, query)
        assert answer.status_code == 200, query
        return {row.reference for row in answer.context["cl"].result_list}

    assert listed({"status__exact": "OPEN"}) == {"tx-open", "tx-unknown"}
    assert listed({"kind__exact": "UNKNOWN_ORDER"}) == {"tx-unknown"}
    assert len(listed({"run__gateway": "toss"})) == 4
    assert listed({"run__gateway": "nicepay"}) == set()
    assert listed({"q": paid.order_id}) == {"tx-open"}


def test_an_open_discrepancys_page_offers_the_actions_and_the_payments_refund_form(
    client, resolver, found, paid
):
    row = found["open"]
    page = client.get(f"{DISCREPANCIES}{row.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert f"{DISCREPANCIES}{row.pk}/recheck/" in text
    assert f"{DISCREPANCIES}{row.pk}/resolve/" in text
    assert f"{PAYMENTS}{paid.pk}/refund/" in text  # the existing refund path
    assert 'name="_save"' not in text

    # No payment of ours: nothing to re-check or refund, only a note.
    text = client.get(f"{DISCREPANCIES}{found['unknown'].pk}/change/").content.decode()
    assert "/recheck/" not in text and "/refund/" not in text and "/resolve/" in text
    # Closed already: no actions.
    text = client.get(f"{DISCREPANCIES}{found['resolved'].pk}/change/").content.decode()
    assert "/recheck/" not in text and "/resolve/" not in text


def test_nothing_can_be_added_changed_or_deleted_even_by_a_superuser(client, found):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    row = found["open"]
    for url in (RUNS, DISCREPANCIES):
        assert client.get(f"{url}add/").status_code == 403
    assert (
        client.post(f"{DISCREPANCIES}{row.pk}/change/", {"status": "RESOLVED"}).status_code == 403
    )
    assert client.post(f"{DISCREPANCIES}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{RUNS}{row.run_id}/delete/", {"post": "yes"}).status_code == 403
    assert Discrepancy.objects.get(pk=row.pk).status == "OPEN"


# --- resolve ---------------------------------------------------------------------------


def test_resolving_needs_a_note_and_records_who_when_and_how(client, resolver, found):
    row = found["open"]
    url = f"{DISCREPANCIES}{row.pk}/resolve/"
    form = client.get(url)
    assert form.status_code == 200
    assert 'name="note"' in form.content.decode()

    for note in ("", "   \n "):
        refused = client.post(url, {"note": note})
        assert refused.status_code == 400
        assert "메모를 적어 주세요" in refused.content.decode()
    too_long = client.post(url, {"note": "x" * 301})
    assert too_long.status_code == 400 and "300자" in too_long.content.decode()
    assert Discrepancy.objects.get(pk=row.pk).status == "OPEN"
    assert not LogEntry.objects.exists()

    before = timezone.now()
    done = client.post(url, {"note": "  PG 대시보드에서 확인:\n 수수료 차이 "}, follow=True)

    assert done.redirect_chain[-1][0] == f"{DISCREPANCIES}{row.pk}/change/"
    assert messages_of(done) == [f"{row.order_id}: 해결로 표시했습니다."]
    row.refresh_from_db()
    assert row.status == "RESOLVED"
    assert row.resolved_by == resolver.get_username()
    assert row.resolved_at >= before
    assert row.resolution == "PG 대시보드에서 확인: 수수료 차이"
    assert LogEntry.objects.get().object_id == str(row.pk)

    # Again: it is not open any more, and the page says so.
    again = client.post(url, {"note": "twice"}, follow=True)
    assert messages_of(again) == [
        f"{row.order_id}: 해결로 표시하지 못했습니다 (it is not open any more)."
    ]
    assert Discrepancy.objects.get(pk=row.pk).resolution == "PG 대시보드에서 확인: 수수료 차이"
    assert "이미" in client.get(url).content.decode()


def test_the_resolve_action_opens_the_form_of_the_one_selected(client, resolver, found):
    row = found["unknown"]
    one = client.post(DISCREPANCIES, {"action": "resolve", "_selected_action": [row.pk]})
    assert one.status_code == 302 and one["Location"] == f"{DISCREPANCIES}{row.pk}/resolve/"

    both = [found["open"].pk, row.pk]
    two = client.post(DISCREPANCIES, {"action": "resolve", "_selected_action": both}, follow=True)
    assert two.status_code == 200
    assert any("하나만 선택하세요" in text for text in messages_of(two))
    assert Discrepancy.objects.filter(status="OPEN").count() == 2


# --- re-check --------------------------------------------------------------------------


def test_the_recheck_action_rechecks_the_payment_through_the_service(client, resolver, found, paid):
    selected = [found["open"].pk, found["unknown"].pk]
    with mock.patch(RECHECK, return_value=ActionResult(True, "re-checked: now SUCCESS")) as pg:
        page = client.post(
            DISCREPANCIES, {"action": "recheck", "_selected_action": selected}, follow=True
        )

    assert page.status_code == 200
    pg.assert_called_once_with(event_id=paid.pk, operator=resolver.get_username(), note=NOTE)
    said = messages_of(page)
    assert any(
        text.startswith(f"{paid.order_id}: PG에서 다시 확인했습니다") and "now SUCCESS" in text
        for text in said
    ), said
    assert any(text.startswith(f"{found['unknown'].order_id}: 다시 확인했지만") for text in said), (
        said
    )
    assert LogEntry.objects.count() == 2
    assert Discrepancy.objects.filter(status="OPEN").count() == 2  # a note closes them


def test_the_recheck_button_is_post_only(client, resolver, found, paid):
    url = f"{DISCREPANCIES}{found['open'].pk}/recheck/"
    assert client.get(url).status_code == 405
    with mock.patch(RECHECK, return_value=ActionResult(False, "still SUCCESS: the PG says DONE")):
        page = client.post(url, follow=True)
    assert page.redirect_chain[-1][0] == f"{DISCREPANCIES}{found['open'].pk}/change/"
    assert messages_of(page) == [
        f"{paid.order_id}: 다시 확인했지만 정리되지 않았습니다 "
        "(AMOUNT_MISMATCH: still SUCCESS: the PG says DONE)."
    ]
    assert client.post(f"{DISCREPANCIES}999999999/recheck/").status_code == 404


# --- without the permission ------------------------------------------------------------


def test_without_the_permission_nothing_is_done(client, looker, found):
    row = found["open"]
    assert client.get(DISCREPANCIES).status_code == 200  # may look
    page = client.get(f"{DISCREPANCIES}{row.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "/recheck/" not in text and "/resolve/" not in text and "/refund/" not in text

    assert client.get(f"{DISCREPANCIES}{row.pk}/resolve/").status_code == 403
    assert client.post(f"{DISCREPANCIES}{row.pk}/resolve/", {"note": "x"}).status_code == 403
    with mock.patch(RECHECK) as pg:
        assert client.post(f"{DISCREPANCIES}{row.pk}/recheck/").status_code == 403
        for name in ("recheck", "resolve"):
            bulk = client.post(
                DISCREPANCIES, {"action": name, "_selected_action": [row.pk]}, follow=True
            )
            assert bulk.status_code == 200
    pg.assert_not_called()
    assert Discrepancy.objects.get(pk=row.pk).status == "OPEN"
    assert not LogEntry.objects.exists()

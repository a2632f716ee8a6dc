"""ledger/check.py and `manage.py ledger_check`: it passes on sound books and names
every kind of difference."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from ledger import accounts
from ledger.models import Account, Posting
from ledger.services import entry_post
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def topped_up():
    member = MemberFactory()
    entry_post(
        kind="TOP_UP_PAID",
        reference="ord-1",
        postings=[
            (accounts.pg_receivable("toss"), 7000),
            (accounts.member_points(member.pk), -7000),
        ],
    )
    return member


def test_sound_books_pass(topped_up, capsys):
    call_command("ledger_check")
    assert "the books balance: 1 entries, 2 accounts, postings total +0" in capsys.readouterr().out


def test_a_cached_balance_that_differs_from_its_postings_fails(topped_up, capsys):
    Account.objects.filter(code="pg_receivable:toss").update(balance=6999)

    with pytest.raises(CommandError, match="do not balance"):
        call_command("ledger_check")
    assert (
        "account pg_receivable:toss: cached balance 6999, postings 7000" in capsys.readouterr().err
    )


def test_a_member_balance_that_differs_from_its_account_fails(topped_up, capsys):
    Member.objects.filter(pk=topped_up.pk).update(point_balance=7001)

    with pytest.raises(CommandError):
        call_command("ledger_check")
    assert f"member {topped_up.pk}: point_balance 7001, but points:{topped_up.pk} owes 7000" in (
        capsys.readouterr().err
    )


def test_an_entry_that_does_not_sum_to_zero_fails(topped_up, capsys):
    # Only a bug or a hand-made SQL change could do this: the model refuses it.
    table = Posting._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET amount = amount + 1 WHERE amount > 0")  # noqa: S608
    Account.objects.filter(code="pg_receivable:toss").update(balance=7001)

    with pytest.raises(CommandError):
        call_command("ledger_check")
    err = capsys.readouterr().err
    assert "(TOP_UP_PAID ord-1) sums to +1, not 0" in err
    assert "all postings sum to +1, not 0" in err

"""The cached token authentication: one query the first time, none after, and a revoked
token or deactivated member refused at once (members/auth.py)."""

import json

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members import auth
from members.auth import token_cache_key
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not django_settings.REDIS_URL, reason="the cache is in Redis"),
]

ME = "/api/v1/members/me"


@pytest.fixture
def cached(settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 300


def token_client(member) -> tuple[APIClient, Token]:
    token = Token.objects.create(user=member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, token


def token_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME).status_code == 200
    return sum("authtoken_token" in q["sql"] for q in queries)


def test_the_second_call_authenticates_without_a_query(cached):
    client, _ = token_client(MemberFactory())

    assert token_queries(client) == 1
    assert token_queries(client) == 0


def test_a_deleted_token_is_refused_at_once(cached):
    client, token = token_client(MemberFactory())
    assert client.get(ME).status_code == 200  # cached now

    token.delete()

    assert client.get(ME).status_code == 401


def deactivate(member):
    member.is_active = False
    member.save()


@pytest.mark.parametrize(
    "revoke", [deactivate, lambda member: member.delete()], ids=["deactivated", "deleted"]
)
def test_a_member_deactivated_or_deleted_is_refused_at_once(cached, revoke):
    member = MemberFactory()
    client, _ = token_client(member)
    assert client.get(ME).status_code == 200  # cached now

    revoke(member)

    assert client.get(ME).status_code == 401


def test_the_token_itself_is_not_a_cache_key(cached):
    client, token = token_client(MemberFactory())
    client.get(ME)

    assert token.key not in token_cache_key(token.key)


def test_without_the_cache_every_call_queries(settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0
    client, _ = token_client(MemberFactory())

    assert token_queries(client) == 1
    assert token_queries(client) == 1


def test_an_unreachable_cache_falls_back_to_the_database(cached, monkeypatch):
    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise redis.ConnectionError("cache down")

            return fail

    monkeypatch.setattr(auth, "_redis", Down)
    member = MemberFactory()
    client, token = token_client(member)

    assert token_queries(client) == 1
    assert token_queries(client) == 1
    token.delete()  # the invalidation fails loudly, the request still goes on
    assert client.get(ME).status_code == 401


def test_a_cached_member_carries_no_password_hash(cached):
    member = MemberFactory()
    client, token = token_client(member)
    client.get(ME)

    stored = auth._redis().get(token_cache_key(token.key)).decode()

    assert member.password not in stored
    assert json.loads(stored) == {
        "id": member.id,
        "email": member.email,
        "name": member.name,
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
        "token_created": token.created.isoformat(),  # its lifetime is checked from the cache too
    }


def test_a_member_read_before_a_revocation_is_not_cached_after_it(cached, monkeypatch):
    # The race a plain delete would lose: the request reads the member from the database,
    # the token is deleted (and forgotten), then the request writes what it read.
    member = MemberFactory()
    client, _ = token_client(member)
    real = auth.TokenAuthentication.authenticate_credentials

    def read_then_revoked(self, key):
        found = real(self, key)
        Token.objects.filter(key=key).delete()  # the per-object delete fires the signal
        return found

    monkeypatch.setattr(auth.TokenAuthentication, "authenticate_credentials", read_then_revoked)
    assert client.get(ME).status_code == 200  # in flight before the revocation
    monkeypatch.setattr(auth.TokenAuthentication, "authenticate_credentials", real)

    assert client.get(ME).status_code == 401


def test_a_changed_member_is_read_from_the_database_while_its_tombstone_lasts(cached):
    member = MemberFactory()
    client, _ = token_client(member)
    client.get(ME)
    member.name = "새 이름"
    member.save()

    assert token_queries(client) == 1
    assert token_queries(client) == 1
    assert client.get(ME).json()["name"] == "새 이름"


def test_an_unreadable_entry_is_answered_by_the_database(cached):
    client, token = token_client(MemberFactory())
    auth._redis().set(token_cache_key(token.key), b"{not json", ex=60)

    assert token_queries(client) == 1

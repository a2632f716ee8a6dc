"""API tokens end: at logout, when the password changes, and when they are too old.

Run with and without the Redis cache of members/auth.py (the `cache` parameter): a
revoked token must be refused at once either way.
"""

import pytest
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/members/login"
LOGOUT = "/api/v1/members/logout"
ME = "/api/v1/members/me"
CACHES = [
    0,
    pytest.param(300, marks=pytest.mark.skipif(not django_settings.REDIS_URL, reason="Redis")),
]


@pytest.fixture(params=CACHES, ids=["no-cache", "redis-cache"])
def cache_seconds(request, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = request.param
    return request.param


def logged_in(member) -> tuple[APIClient, str]:
    client = APIClient()
    answer = client.post(
        LOGIN, {"email": member.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert answer.status_code == 200
    token = answer.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, token


def by_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_password_change_revokes_the_old_token_and_sessions(cache_seconds):
    member = MemberFactory()
    _, token = logged_in(member)
    assert by_token(token).get(ME).status_code == 200  # cached now, if there is a cache
    session = APIClient()
    session.force_login(member)
    assert session.get(ME).status_code == 200

    member.set_password("a-brand-new-passphrase")
    member.save()

    assert by_token(token).get(ME).status_code == 401
    assert session.get(ME).status_code == 401
    assert not Token.objects.filter(key=token).exists()
    _, fresh = logged_in_with(member, "a-brand-new-passphrase")
    assert fresh != token and by_token(fresh).get(ME).status_code == 200


def logged_in_with(member, password: str) -> tuple[APIClient, str]:
    client = APIClient()
    answer = client.post(LOGIN, {"email": member.email, "password": password}, format="json")
    assert answer.status_code == 200
    return client, answer.json()["token"]


def test_saving_a_member_without_a_new_password_keeps_the_token(cache_seconds):
    member = MemberFactory()
    _, token = logged_in(member)

    member.name = "새 이름"
    member.save()

    assert by_token(token).get(ME).status_code == 200


def test_logout_revokes_the_token_it_was_called_with(cache_seconds):
    member = MemberFactory()
    client, token = logged_in(member)
    assert by_token(token).get(ME).status_code == 200

    answer = client.post(LOGOUT)

    assert answer.status_code == 204
    assert by_token(token).get(ME).status_code == 401
    assert client.get(ME).status_code == 401  # the session ended too
    assert logged_in(member)[1] != token


def test_logout_needs_a_login(api_client):
    assert api_client.post(LOGOUT).status_code == 401


def test_a_token_older_than_its_lifetime_is_refused_and_login_gives_a_new_one(
    cache_seconds, settings
):
    member = MemberFactory()
    _, token = logged_in(member)
    assert by_token(token).get(ME).status_code == 200
    lifetime = settings.AUTH_TOKEN_TTL_SECONDS
    settings.AUTH_TOKEN_TTL_SECONDS = 0  # as if its whole lifetime had passed

    answer = by_token(token).get(ME)

    assert answer.status_code == 401 and answer.json()["code"] == "UNAUTHENTICATED"
    assert not Token.objects.filter(key=token).exists()
    settings.AUTH_TOKEN_TTL_SECONDS = lifetime
    _, fresh = logged_in(member)
    assert fresh != token and by_token(fresh).get(ME).status_code == 200


def test_login_twice_inside_the_lifetime_returns_the_same_token():
    """One token per member (DRF's model, which drf_create_token needs): a second device
    logging in gets the same token, so logging in does not log the first one out."""
    member = MemberFactory()

    assert logged_in(member)[1] == logged_in(member)[1]

"""Logins on every path (API, shop, admin) are limited per account and per real address.

An attacker's rotating X-Forwarded-For is not an address (only NUM_PROXIES trusted hops
count); a locked account still opens on a device that logged into it before; a lock
ends by itself.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/members/login"
SIGNUP = "/api/v1/members/signup"


def api_login(client, email, password, *, xff: str = "", addr: str = "10.1.1.1"):
    return client.post(
        LOGIN,
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=addr,
        HTTP_X_FORWARDED_FOR=xff,
    )


def form_login(path: str):
    """A login through Django's login form at `path` (the shop's or the admin's)."""

    def login(client, email, password, *, xff: str = "", addr: str = "10.1.1.1"):
        body = {"username": email, "password": password}
        return client.post(path, body, REMOTE_ADDR=addr, HTTP_X_FORWARDED_FOR=xff)

    return login


shop_login = form_login("/shop/login")
admin_login = form_login("/admin/login/?next=/admin/")


def api_logged_in(response) -> bool:
    return response.status_code == 200


def page_logged_in(response) -> bool:
    return response.status_code == 302


PATHS = [
    pytest.param(api_login, api_logged_in, APIClient, id="api"),
    pytest.param(shop_login, page_logged_in, Client, id="shop"),
    pytest.param(admin_login, page_logged_in, Client, id="admin"),
]


@pytest.mark.parametrize("login, logged_in, client_class", PATHS)
def test_sixty_wrong_passwords_with_rotating_xff_then_the_right_one_is_refused(
    login, logged_in, client_class, settings
):
    settings.AUTH_THROTTLE_RATE = "1000/minute"  # the lockout is what is tested here
    MemberFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    client = client_class()

    tries = [
        login(client, "boss@example.com", f"guess-{n}", xff=f"203.0.113.{n}") for n in range(60)
    ]
    right = login(client, "boss@example.com", DEFAULT_PASSWORD, xff="198.51.100.7")

    assert not any(logged_in(t) for t in tries)
    assert right.status_code == 429 and not logged_in(right)
    assert "Retry-After" in right


@pytest.mark.parametrize("login, logged_in, client_class", PATHS)
def test_one_address_guessing_many_accounts_is_locked_out(login, logged_in, client_class, settings):
    settings.AUTH_THROTTLE_RATE = "1000/minute"
    victims = [MemberFactory(is_staff=True, is_superuser=True) for _ in range(12)]
    client = client_class()

    for member in victims:
        login(client, member.email, "wrong", xff=f"203.0.113.{member.pk % 250}", addr="10.2.2.2")
    refused = login(client, victims[0].email, DEFAULT_PASSWORD, addr="10.2.2.2")
    elsewhere = login(client_class(), victims[0].email, DEFAULT_PASSWORD, addr="10.3.3.3")

    assert refused.status_code == 429
    assert logged_in(elsewhere)  # victims[0] had one failure: its account is not locked


def test_an_account_locked_by_strangers_still_opens_on_a_known_device(settings):
    settings.AUTH_THROTTLE_RATE = "1000/minute"
    MemberFactory(email="kim@example.com")
    phone = APIClient()
    assert api_logged_in(api_login(phone, "kim@example.com", DEFAULT_PASSWORD, addr="10.4.4.4"))
    del phone.cookies[settings.SESSION_COOKIE_NAME]  # the session ends; the device cookie stays

    for n in range(30):
        api_login(APIClient(), "kim@example.com", f"guess-{n}", addr=f"10.5.5.{n}")
    stranger = api_login(APIClient(), "kim@example.com", DEFAULT_PASSWORD, addr="10.6.6.6")
    own_phone = api_login(phone, "kim@example.com", DEFAULT_PASSWORD, addr="10.7.7.7")

    assert stranger.status_code == 429
    assert api_logged_in(own_phone)


def test_a_lock_ends_by_itself_after_the_cool_off(settings):
    settings.AUTH_THROTTLE_RATE = "1000/minute"
    MemberFactory(email="park@example.com")
    client = APIClient()
    for n in range(settings.AXES_FAILURE_LIMIT):
        api_login(client, "park@example.com", f"guess-{n}")
    assert api_login(client, "park@example.com", DEFAULT_PASSWORD).status_code == 429

    later = settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - later
        )

    assert api_logged_in(api_login(client, "park@example.com", DEFAULT_PASSWORD))


def test_a_wrong_password_during_a_lock_does_not_make_it_longer(settings):
    settings.AUTH_THROTTLE_RATE = "1000/minute"
    MemberFactory(email="choi@example.com")
    client = APIClient()
    for n in range(settings.AXES_FAILURE_LIMIT):
        api_login(client, "choi@example.com", f"guess-{n}")
    before = AccessAttempt.objects.get().attempt_time

    for n in range(5):
        assert api_login(client, "choi@example.com", f"more-{n}").status_code == 429

    assert AccessAttempt.objects.get().attempt_time == before


def test_the_api_throttle_counts_the_real_address_not_x_forwarded_for(settings):
    settings.AUTH_THROTTLE_RATE = "5/minute"
    client = APIClient()

    statuses = [
        api_login(
            client, f"n{n}@example.com", "x", xff=f"203.0.113.{n}", addr="10.8.8.8"
        ).status_code
        for n in range(8)
    ]

    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 3


def test_behind_one_trusted_proxy_the_address_it_saw_counts(settings):
    settings.AUTH_THROTTLE_RATE = "3/minute"
    settings.NUM_PROXIES = 1
    client = APIClient()

    # The proxy appends what it saw: the client's own header part is not believed.
    spoofed = [
        api_login(
            client, "a@example.com", "x", xff=f"1.2.3.{n}, 10.9.9.9", addr="172.18.0.2"
        ).status_code
        for n in range(4)
    ]
    another = api_login(client, "a@example.com", "x", xff="10.9.9.10", addr="172.18.0.2")

    assert spoofed == [401, 401, 401, 429]
    assert another.status_code == 401


def test_signup_is_throttled_per_real_address_and_says_nothing_of_existing_emails(settings):
    MemberFactory(email="taken@example.com")
    client = APIClient()
    body = {"password": "correct-horse-battery", "name": "김"}

    taken = client.post(SIGNUP, {**body, "email": "taken@example.com"}, format="json")
    fresh = client.post(SIGNUP, {**body, "email": "fresh@example.com"}, format="json")

    assert taken.status_code == fresh.status_code == 201
    assert set(taken.json()) == set(fresh.json())
    assert taken.json()["email"] == "taken@example.com"
    settings.AUTH_THROTTLE_RATE = "3/minute"
    statuses = [
        client.post(
            SIGNUP,
            {**body, "email": f"bulk{n}@example.com"},
            format="json",
            REMOTE_ADDR="10.10.10.10",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(5)
    ]
    assert statuses == [201, 201, 201, 429, 429]

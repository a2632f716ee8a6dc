import pytest
from django.core.management import call_command
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import Member
from tests.factories import DEFAULT_PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/v1/members/signup"
LOGIN = "/api/v1/members/login"
ME = "/api/v1/members/me"


def signup(client, **overrides):
    body = {"email": "kim@example.com", "password": "correct-horse-battery", "name": "김철수"}
    body.update(overrides)
    return client.post(SIGNUP, body, format="json")


def test_signup_creates_a_member_with_a_hashed_password(api_client):
    response = signup(api_client)

    assert response.status_code == 201
    member = Member.objects.get()
    assert response.json() == {"email": "kim@example.com", "name": "김철수"}
    assert member.password != "correct-horse-battery"
    assert member.check_password("correct-horse-battery")
    assert member.point_balance == 0


def test_signup_normalises_the_email_and_makes_no_second_account(api_client):
    assert signup(api_client, email="  Kim@Example.COM ").status_code == 201

    response = signup(api_client, email="Kim@example.com", password="another-horse-battery")

    assert response.status_code == 201  # the same answer: it does not say the email is taken
    assert response.json() == {"email": "kim@example.com", "name": "김철수"}
    assert Member.objects.count() == 1
    assert Member.objects.get().check_password("correct-horse-battery")  # untouched


@pytest.mark.parametrize(
    "password",
    ["short", "1234567890123", "password123", "kim@example.com", "kimexample"],
    ids=["too-short", "numeric", "common", "same-as-email", "like-email"],
)
def test_signup_refuses_a_weak_password_with_the_field(api_client, password):
    response = signup(api_client, password=password)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_REQUEST"
    assert list(body["fields"]) == ["password"]
    assert Member.objects.count() == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": "correct-horse-battery", "name": "n"}, "email"),
        ({"email": "a@example.com", "name": "n"}, "password"),
        ({"email": "a@example.com", "password": "correct-horse-battery"}, "name"),
        ({"email": "not-an-email", "password": "correct-horse-battery", "name": "n"}, "email"),
        ({"email": ["a@example.com"], "password": "correct-horse-battery", "name": "n"}, "email"),
        ({"email": "a@example.com", "password": "x" * 129, "name": "n"}, "password"),
        (
            {"email": "a@example.com", "password": "correct-horse-battery", "name": "n" * 101},
            "name",
        ),
    ],
    ids=["no-email", "no-password", "no-name", "bad-email", "email-list", "long-pw", "long-name"],
)
def test_signup_names_each_bad_field(api_client, body, field):
    response = api_client.post(SIGNUP, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert field in response.json()["fields"]


def test_login_returns_a_token_and_starts_a_session():
    member = MemberFactory(email="lee@example.com")
    client = APIClient()

    response = client.post(
        LOGIN, {"email": "LEE@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=member).key == token
    # The session cookie alone authenticates (for the shop pages).
    assert client.get(ME).json()["email"] == "lee@example.com"
    # So does the token, from a client with no session.
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert other.get(ME).json() == {
        "id": member.id,
        "email": "lee@example.com",
        "name": member.name,
        "pointBalance": 0,
    }


@pytest.mark.parametrize(
    "email, password",
    [("lee@example.com", "wrong-password"), ("nobody@example.com", DEFAULT_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_login_with_bad_credentials_is_401_and_says_nothing_more(api_client, email, password):
    MemberFactory(email="lee@example.com")

    response = api_client.post(LOGIN, {"email": email, "password": password}, format="json")

    assert response.status_code == 401
    assert response.json() == {"code": "UNAUTHENTICATED", "message": "Email or password is wrong."}
    assert "sessionid" not in response.cookies


def test_login_refuses_an_inactive_member(api_client):
    MemberFactory(email="gone@example.com", is_active=False)

    response = api_client.post(
        LOGIN, {"email": "gone@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "authorization", [None, "Token not-a-real-token", "Bearer abc", "Token"], ids=str
)
def test_me_needs_valid_credentials(api_client, authorization):
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)

    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"] == "Token"


def test_login_is_rate_limited_per_client(api_client):
    MemberFactory(email="lee@example.com")
    body = {"email": "lee@example.com", "password": "wrong-password"}
    with override_settings(AUTH_THROTTLE_RATE="3/minute"):
        # A distinct address keeps this test's counter apart from every other test's.
        statuses = [
            api_client.post(LOGIN, body, format="json", REMOTE_ADDR="10.9.8.7").status_code
            for _ in range(4)
        ]
        limited = api_client.post(LOGIN, body, format="json", REMOTE_ADDR="10.9.8.7")

    assert statuses == [401, 401, 401, 429]
    assert limited.json()["code"] == "RATE_LIMITED"
    assert int(limited["Retry-After"]) > 0


def test_drf_create_token_command_works_with_email(capsys):
    member = MemberFactory(email="script@example.com")

    call_command("drf_create_token", "Script@Example.com")

    assert Token.objects.get(user=member).key in capsys.readouterr().out

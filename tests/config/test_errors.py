"""Every bad request a client can send gets a JSON 4xx with a code: never a 500, never HTML."""

import re

import pytest
from django.test import Client

from config.api.errors import STATUS_OF_CODE
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

JSON = "application/json"


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    if code:
        assert body["code"] == code
    return body


@pytest.fixture
def client():
    # Django's raw client: bodies go out byte for byte, nothing re-encoded for us.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "a@example.com", ',
        b"{'email': 'single quotes'}",
        b"\xff\xfe\x00garbage",
        b'{"email": NaN}',
        b'{"n": ' + b"1" * 5000 + b"}",
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"email": "\\ud800@example.com", "password": "x"}',
    ],
    ids=[
        "truncated",
        "single-quotes",
        "not-utf8",
        "nan",
        "huge-int",
        "deep-array",
        "deep-obj",
        "lone-surrogate",  # valid JSON, but not UTF-8: MySQL and the logs would fail on it
    ],
)
def test_malformed_json_is_400(client, raw):
    response = client.generic("POST", "/api/v1/members/signup", raw, content_type=JSON)

    assert_json_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize("raw", [b"[]", b"null", b"42", b'"text"', b"true", b"[{}]"], ids=str)
def test_json_that_is_not_an_object_is_400(client, raw):
    response = client.generic("POST", "/api/v1/members/signup", raw, content_type=JSON)

    assert_json_error(response, 400, "INVALID_REQUEST")


def test_wrong_types_name_every_field(client):
    response = client.post(
        "/api/v1/members/signup",
        {"email": 5, "password": {"a": 1}, "name": ["x"]},
        content_type=JSON,
    )

    body = assert_json_error(response, 400, "INVALID_REQUEST")
    assert set(body["fields"]) == {"email", "password", "name"}


def test_missing_fields_are_listed(client):
    body = assert_json_error(
        client.post("/api/v1/members/signup", {}, content_type=JSON), 400, "INVALID_REQUEST"
    )
    assert set(body["fields"]) == {"email", "password", "name"}


def test_a_2mb_body_is_refused_before_it_is_read(client):
    raw = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'

    response = client.generic("POST", "/api/v1/members/signup", raw, content_type=JSON)

    assert_json_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_non_numeric_content_length_is_400(client):
    response = client.generic(
        "POST", "/api/v1/members/signup", b"{}", content_type=JSON, CONTENT_LENGTH="abc"
    )

    assert_json_error(response, 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
def test_a_body_that_is_not_json_is_415(client, content_type):
    response = client.generic(
        "POST", "/api/v1/members/login", b"email=a", content_type=content_type
    )

    assert_json_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_asking_for_html_gets_406_in_json(client):
    response = client.get("/api/v1/products", HTTP_ACCEPT="text/html")

    assert_json_error(response, 406, "NOT_ACCEPTABLE")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v2/products", "/api/v1/products/", "/api/v1/products/abc", "/nope"],
)
def test_unknown_routes_are_json_404(client, method, path):
    response = client.generic(method, path, b"{}", content_type=JSON)

    assert_json_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", "/api/v1/products"),
        ("POST", "/api/v1/products"),
        ("PUT", "/api/v1/products/1"),
        ("GET", "/api/v1/members/login"),
        ("GET", "/api/v1/members/signup"),
        ("DELETE", "/api/v1/products/1"),
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
    ],
)
def test_wrong_methods_are_json_405(client, method, path):
    response = client.generic(method, path, b"{}", content_type=JSON)

    body = assert_json_error(response, 405, "METHOD_NOT_ALLOWED")
    assert method in body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/99999999999999999999999999",
        "/api/v1/products/999999999999999999",
        "/api/v1/products?cursor=not-a-cursor",
    ],
    ids=["id-overflow", "id-max", "bad-cursor"],
)
def test_bad_ids_and_cursors_are_json_404(client, path):
    assert_json_error(client.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "query", ["cursor=" + "A" * 5000, "cursor=%00%ff", "pageSize=-5", "pageSize=10000000000"]
)
def test_odd_list_parameters_never_reach_a_500(client, query):
    response = client.get(f"/api/v1/products?{query}")

    assert response.status_code in (200, 404)
    assert response["Content-Type"].startswith("application/json")


HOSTILE_BODIES = [
    b"",
    b"{}",
    b'{"email": null, "password": null, "name": null}',
    b'{"email": true, "password": 1e308, "name": -1}',
    b'{"email": "' + "가".encode() * 300 + b'@example.com", "password": "x", "name": "y"}',
    b'{"email": "a@example.com", "password": "' + b"\\u0000" * 5 + b'", "name": "\\u0000"}',
    b'{"email": "a@example.com\\n", "password": "correct-horse-battery", "name": "<script>"}',
    b'{"__proto__": {}, "email": {"$gt": ""}}',
]


@pytest.mark.parametrize("path", ["/api/v1/members/signup", "/api/v1/members/login"])
@pytest.mark.parametrize("raw", HOSTILE_BODIES)
def test_hostile_bodies_never_reach_a_500(client, path, raw):
    response = client.generic("POST", path, raw, content_type=JSON)

    assert 400 <= response.status_code < 500 or response.status_code == 201
    if response.status_code != 201:
        assert_json_error(response, response.status_code)


def test_every_domain_error_code_has_its_status():
    """Services raise codes, not statuses: each code they raise is in the one table."""
    raised = set()
    for package in ("config", "members", "products", "payments"):
        for path in (ROOT / package).rglob("*.py"):
            raised.update(re.findall(r'DomainError\(\s*"([A-Z_]+)"', path.read_text()))
    assert raised, "the scan found no DomainError: the pattern is broken"
    assert raised - set(STATUS_OF_CODE) == set()

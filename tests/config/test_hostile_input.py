"""No 500 for anything a client can send: every URL pattern, walked with hostile values.

Each route of the project's URL configuration is called as a stranger, as a member (token
and session) and as a staff operator, with every method, with hostile query strings
(crafted cursors, page sizes, huge numbers) and hostile bodies (JSON and forms: huge
ids, zero and negative quantities, wrong types). Any answer may be a refusal; none may
be a 500. Routes that call a PG are pointed at an address where nothing listens, so an
accepted request cannot leave the machine.
"""

import base64
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import PaymentEvent
from tests.factories import MemberFactory, ProductFactory

pytestmark = [pytest.mark.django_db]

HUGE = 10**23
CURSORS = [
    base64.b64encode(b"p=abc").decode(),
    base64.b64encode(b"p=" + str(HUGE).encode()).decode(),
    base64.b64encode(b"o=-1&p=1").decode(),
    base64.b64encode(b"r=x").decode(),
    "%%%",
    "A" * 3000,
]
QUERIES = [
    *({"cursor": c} for c in CURSORS),
    {"pageSize": "-1"},
    {"pageSize": str(HUGE)},
    {"pageSize": "abc"},
    {"o": "abc"},  # the admin's ordering
    {"o": "999"},
    {"p": "abc"},  # the admin's page
    {"p": str(HUGE)},
    {"q": "\x00" * 10},
    {"status__exact": "<script>"},
    {"id__in": "abc"},
    {"created_at__gte": "not-a-date"},
    {"wait": "abc"},
]
BODIES = [
    {"productId": HUGE, "quantity": 1},
    {"productId": "1", "quantity": 0},
    {"productId": "1", "quantity": -5},
    {"productId": "1", "quantity": 150},
    {"productId": "abc", "quantity": "abc"},
    {"items": [{"productId": HUGE, "quantity": HUGE}], "gateway": "toss"},
    {"items": "x", "gateway": ["toss"]},
    {"orderId": "x" * 500, "paymentKey": None, "amount": -(10**30)},
    {"email": "a@b.c" * 100, "password": "x" * 5000, "name": None},
    {"amount": HUGE, "purpose": "POINT_TOPUP"},
]
VALUES = {"order_id": ["ord-" + "x" * 60, "x"], "gateway": ["toss", "kakaopay", "zzz"]}


def routes(patterns=None, prefix: str = "") -> list[str]:
    """Every concrete path: each pattern's groups filled with a few hostile values."""
    found: list[str] = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        text = prefix + _template(pattern)
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, text)
        elif isinstance(pattern, URLPattern):
            found += _filled(text)
    return sorted(set(found))


def _template(pattern) -> str:
    text = str(pattern.pattern)
    return text.removeprefix("^").removesuffix("$").replace("\\Z", "")


def _filled(text: str) -> list[str]:
    names = re.findall(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>", text)
    paths = ["/" + text]
    for regex_name, converter_name in names:
        name = regex_name or converter_name
        group = re.compile(rf"\(\?P<{name}>[^)]*\)|<(?:\w+:)?{name}>")
        values = VALUES.get(name, ["1", "999999999999999999", "0"])
        paths = [group.sub(value, path, count=1) for path in paths for value in values]
    return [p for p in paths if "(" not in p and "\\" not in p]


@pytest.fixture
def callers(settings):
    settings.PAYMENT_GATEWAYS = {
        code: {**config, "API_BASE": "http://127.0.0.1:9/", "READ_TIMEOUT": 0.2}
        for code, config in settings.PAYMENT_GATEWAYS.items()
    }
    product = ProductFactory(stock=5)
    member = MemberFactory()
    PaymentEvent.objects.create(
        order_id="ord-" + "x" * 60,
        buyer=member,
        gateway="toss",
        order_name="a",
        total_amount=1000,
        pg_idempotency_key="k" * 32,
    )
    stranger = APIClient()
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member).key}")
    by_session = APIClient(enforce_csrf_checks=False)
    by_session.force_login(member)
    operator = APIClient()
    staff = MemberFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name="payment operators"))
    operator.force_login(staff)
    for client in (stranger, by_token, by_session, operator):
        client.raise_request_exception = False  # a 500 is what is counted, not raised
    return product, {
        "stranger": stranger,
        "token": by_token,
        "session": by_session,
        "operator": operator,
    }


def test_the_walk_covers_every_part_of_the_site():
    paths = routes()
    for expected in ("/api/v1/products", "/api/v1/payments", "/shop/buy", "/admin/login/"):
        assert expected in paths
    assert any(p.startswith("/api/v1/payments/ord-") for p in paths)


def test_no_route_answers_500_to_hostile_values(callers):
    product, clients = callers
    failures = []
    for path in routes():
        for who, client in clients.items():
            if path.startswith("/admin/") and who not in ("stranger", "operator"):
                continue
            for query in QUERIES:
                answer = client.get(path, query)
                if answer.status_code >= 500:
                    failures.append(f"{who} GET {path} {query}: {answer.status_code}")
            # The API reads JSON, the shop and the admin read forms.
            kind = "json" if path.startswith("/api/") else "form"
            methods = ("post",) if path.startswith("/admin/") else ("post", "put", "delete")
            for body in BODIES:
                body = {k: (product.id if v == "1" else v) for k, v in body.items()}
                for method in methods:
                    answer = _send(client, method, path, body, kind)
                    if answer.status_code >= 500:
                        failures.append(f"{who} {method} {path} {kind} {body}")
    assert failures == []


def _send(client, method: str, path: str, body: dict, kind: str):
    if kind == "json":
        return getattr(client, method)(path, body, format="json")
    flat = {k: v if isinstance(v, str | int) else str(v) for k, v in body.items()}
    return getattr(client, method)(path, flat, format="multipart")

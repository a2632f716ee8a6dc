"""The control API (/sandbox/...) answers only the developer's own tools: JSON bodies only,
nothing started by another site's page, and docker-compose never publishes it on every
interface. The buyer's window pages stay open (docs/sandbox.md, Control API)."""

import json
import re

import pytest
import requests
import yaml

from tests.processes import ROOT
from tests.sandbox import CLIENT_KEY

processes = pytest.mark.processes  # these start the sandbox (tests/sandbox.py)

FAULT = {"gateway": "toss", "operation": "confirm", "latencyMs": 1}
# Each state-changing control route with a JSON body it accepts.
WRITES = [
    ("PUT", "/sandbox/faults", FAULT),
    ("POST", "/sandbox/clock/advance", {"seconds": 60}),
    ("POST", "/sandbox/toss/authorize", {"orderId": "order-guard-0001", "amount": 1000}),
    ("PUT", "/sandbox/kakaopay/settings", {"alreadyApprovedCode": -999}),
    ("PUT", "/sandbox/toss/settings/virtual-accounts", {"expiry": "CANCELED"}),
    ("POST", "/sandbox/reset", {}),
]
WRITE_IDS = [f"{method} {path}" for method, path, _ in WRITES]
READS = ["/sandbox/requests", "/sandbox/toss/payments", "/sandbox/faults"]
ELSEWHERE = "http://shop.evil.test"


def state(toss) -> dict:
    """What the routes above change (the request log aside: it lists every call)."""
    get = toss.http.get
    return {
        "faults": get(f"{toss.base}/sandbox/faults").json()["rules"],
        "clock": get(f"{toss.base}/sandbox/clock").json()["offsetSeconds"],
        "payments": get(f"{toss.base}/sandbox/toss/payments").json()["payments"],
        "kakaopay": get(f"{toss.base}/sandbox/kakaopay/settings").json(),
        "tossVirtualAccounts": get(f"{toss.base}/sandbox/toss/settings/virtual-accounts").json(),
    }


def with_a_fault(toss) -> dict:
    assert toss.http.put(f"{toss.base}/sandbox/faults", json=FAULT).status_code == 201
    return state(toss)


def refused(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"]


@processes
@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
def test_a_text_plain_write_is_refused_and_changes_nothing(toss, method, path, body):
    before = with_a_fault(toss)
    url = f"{toss.base}{path}"
    raw = json.dumps(body)

    plain = toss.http.request(method, url, data=raw, headers={"Content-Type": "text/plain"})

    refused(plain, 415)
    assert state(toss) == before
    assert toss.http.request(method, url, json=body).ok  # the same body as JSON works
    assert state(toss) != before


@processes
@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "text/plain;charset=UTF-8"},
        {},  # a body with no Content-Type at all
    ],
    ids=["form", "multipart", "text-charset", "none"],
)
def test_every_simple_content_type_is_refused(toss, headers):
    response = toss.http.put(
        f"{toss.base}/sandbox/faults", data=b'{"gateway":"toss","operation":"*"}', headers=headers
    )

    refused(response, 415)
    assert state(toss)["faults"] == []


@processes
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [*WRITES, ("DELETE", "/sandbox/faults", None)],
    ids=[*WRITE_IDS, "DELETE /sandbox/faults"],
)
def test_a_cross_origin_write_is_refused_and_changes_nothing(toss, method, path, body):
    before = with_a_fault(toss)
    url = f"{toss.base}{path}"
    # Another site, the shop next door (same host, another port), an opaque origin.
    for origin in (ELSEWHERE, "http://127.0.0.1:8000", "null"):
        response = toss.http.request(method, url, json=body, headers={"Origin": origin})
        refused(response, 403)
    cross_site = toss.http.request(method, url, json=body, headers={"Sec-Fetch-Site": "cross-site"})
    refused(cross_site, 403)
    assert state(toss) == before

    same = toss.http.request(method, url, json=body, headers={"Origin": toss.base})
    assert same.ok, same.text
    assert state(toss) != before


@processes
def test_body_less_writes_without_origin_still_work(toss):
    with_a_fault(toss)
    assert toss.http.delete(f"{toss.base}/sandbox/faults").json() == {"cleared": 1}
    assert toss.http.post(f"{toss.base}/sandbox/reset").ok
    # ... but a body-less write from another site is not.
    refused(toss.http.post(f"{toss.base}/sandbox/reset", headers={"Origin": ELSEWHERE}), 403)


@processes
@pytest.mark.parametrize("path", READS)
def test_a_cross_site_read_is_refused(toss, path):
    url = f"{toss.base}{path}"

    refused(toss.http.get(url, headers={"Origin": ELSEWHERE}), 403)
    refused(toss.http.get(url, headers={"Sec-Fetch-Site": "cross-site"}), 403)
    refused(toss.http.get(url, headers={"Sec-Fetch-Site": "same-site"}), 403)
    for fine in (
        {},
        {"Origin": toss.base},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ):
        assert toss.http.get(url, headers=fine).status_code == 200, fine


@processes
def test_the_buyer_window_and_health_stay_open_to_other_sites(toss):
    order_id = toss.new_order_id()
    params = {
        "clientKey": CLIENT_KEY,
        "orderId": order_id,
        "amount": "5000",
        "orderName": "x",
        "successUrl": "http://shop.test/s",
        "failUrl": "http://shop.test/f",
    }
    # The shop sends the browser here from its own origin; the window's form posts back.
    shop = {"Sec-Fetch-Site": "cross-site", "Referer": "http://shop.test/buy"}
    page = toss.http.get(f"{toss.base}/toss/window", params=params, headers=shop)
    assert page.status_code == 200, page.text
    payment_key = re.search(r'name="paymentKey" value="([^"]+)"', page.text).group(1)
    pay = toss.http.post(
        f"{toss.base}/toss/window/pay",
        data={**params, "paymentKey": payment_key, "choice": "pay"},
        headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
    )
    assert pay.status_code == 302 and pay.headers["Location"].startswith("http://shop.test/s?")
    health = toss.http.get(f"{toss.base}/sandbox/health", headers={"Origin": ELSEWHERE})
    assert health.json() == {"status": "ok"}

    # The script shortcut under /sandbox is a control route: a form post there is refused.
    shortcut = toss.http.post(
        f"{toss.base}/sandbox/toss/authorize", data={"orderId": order_id, "amount": "5000"}
    )
    refused(shortcut, 415)


# --- docker-compose ---------------------------------------------------------------------

SANDBOX_PORT = 8090
LOOPBACK = ("127.0.0.1", "::1", "[::1]", "localhost")


def published(spec) -> tuple[str, int | None, int | None]:
    """(host address, host port, container port) of one `ports:` entry, either syntax."""
    if isinstance(spec, dict):
        host_port = spec.get("published")
        return spec.get("host_ip", ""), host_port and int(host_port), int(spec["target"])
    parts = str(spec).split("/")[0].rsplit(":", 2)
    address = parts[0] if len(parts) == 3 else ""
    host_port = int(parts[-2]) if len(parts) >= 2 else None
    return address, host_port, int(parts[-1])


def test_compose_never_publishes_the_sandbox_on_every_interface():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    for name, service in services.items():
        for spec in service.get("ports", []):
            address, host_port, target = published(spec)
            if SANDBOX_PORT in (host_port, target) or name == "pg-sandbox":
                assert address in LOOPBACK, f"{name} publishes {spec!r} on every interface"
    sandbox = services["pg-sandbox"]
    assert "ports" not in sandbox  # reachable on the compose network only
    assert str(SANDBOX_PORT) in [str(port) for port in sandbox.get("expose", [])]
    command = sandbox["command"]
    assert command[command.index("--port") + 1] == str(SANDBOX_PORT)

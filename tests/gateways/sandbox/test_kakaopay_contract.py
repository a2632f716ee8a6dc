"""The KakaoPay sandbox, driven over HTTP as a real process (docs/sandbox.md, Scenarios).

Each test names the scenario it covers (K-1 ... K-8). Only the new API
(open-api.kakaopay.com: JSON bodies, `SECRET_KEY` / `DEV_SECRET_KEY` keys,
{"error_code", "error_message"} errors) is emulated: the old kapi.kakao.com generation
(KakaoAK keys, form bodies, {"code", "msg"} errors) is out of scope, so K-7 covers the two
header prefixes of the new API only. Error numbers other than -780 are the sandbox's
choices where KakaoPay documents none (gateways/sandbox/kakaopay/errors.py; docs/pg.md,
What is not confirmed).
"""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.gateways.sandbox.kakaopay_client import (
    API,
    CANCEL_URL,
    CID,
    FAIL_URL,
    SECRET,
    USER_ID,
    KakaoSandbox,
)
from tests.sandbox import start_sandbox

pytestmark = pytest.mark.processes

TID = re.compile(r"^T\d{19}$")
AID = re.compile(r"^A\d{19}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")  # KST, no offset
AMOUNT_KEYS = {"total", "tax_free", "vat", "point", "discount", "green_deposit"}


@pytest.fixture(scope="session")
def kakaopay_process():
    process, base = start_sandbox("--kakaopay-secret-key", SECRET)
    yield process, base
    process.stop()


@pytest.fixture
def kakao(kakaopay_process) -> KakaoSandbox:
    process, base = kakaopay_process
    assert requests.post(f"{base}/sandbox/reset", timeout=5).ok
    return KakaoSandbox(base, process)


def eventually(check, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def error_of(response: requests.Response) -> tuple[int, int]:
    """(HTTP status, error_code), after checking the KakaoPay error shape."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) <= {"error_code", "error_message", "extras"}, body
    assert isinstance(body["error_code"], int) and body["error_code"] < 0
    assert isinstance(body["error_message"], str) and body["error_message"]
    return response.status_code, body["error_code"]


# --- K-1 happy path ---------------------------------------------------------------------


def test_k1_ready_window_approve_then_lookup(kakao):
    order_id = kakao.new_order_id()
    ready = kakao.ready(order_id, 15000)

    assert ready.status_code == 200, ready.text
    body = ready.json()
    tid = body["tid"]
    assert TID.match(tid) and STAMP.match(body["created_at"])
    window = f"{kakao.base}/kakaopay/window?tid={tid}"
    assert body["next_redirect_pc_url"] == window
    assert body["next_redirect_mobile_url"].startswith(window)
    assert body["next_redirect_app_url"].startswith(window)
    assert body["android_app_scheme"].startswith("kakaotalk://kakaopay/pg?url=")
    assert body["ios_app_scheme"].startswith("kakaotalk://")
    assert kakao.status(tid) == "READY"

    page = kakao.http.get(body["next_redirect_pc_url"], timeout=5)
    assert page.status_code == 200 and "결제하기" in page.text
    assert kakao.status(tid) == "OPEN_PAYMENT"

    pay = kakao.http.post(
        f"{kakao.base}/kakaopay/window/submit",
        data={"tid": tid, "choice": "pay"},
        allow_redirects=False,
        timeout=5,
    )
    assert pay.status_code == 302
    location = urlsplit(pay.headers["Location"])
    assert (location.netloc, location.path) == ("shop.test", "/kakao/approve")
    query = parse_qs(location.query)
    assert query["shop"] == ["1"] and len(query["pg_token"]) == 1
    assert kakao.status(tid) == "AUTH_PASSWORD"

    approve = kakao.approve(tid, order_id, query["pg_token"][0], total_amount=15000)

    assert approve.status_code == 200, approve.text
    paid = approve.json()
    assert AID.match(paid["aid"])
    assert (paid["tid"], paid["cid"]) == (tid, CID)
    assert (paid["partner_order_id"], paid["partner_user_id"]) == (order_id, USER_ID)
    assert paid["payment_method_type"] == "CARD"
    assert paid["amount"] == {
        "total": 15000,
        "tax_free": 0,
        "vat": 1364,
        "point": 0,
        "discount": 0,
        "green_deposit": 0,
    }
    assert paid["card_info"]["approved_id"] and paid["card_info"]["install_month"] == "00"
    assert STAMP.match(paid["approved_at"]) and paid["created_at"] == body["created_at"]
    assert (paid["item_name"], paid["quantity"]) == ("카카오 티셔츠", 1)

    order = kakao.order(tid).json()
    assert order["status"] == "SUCCESS_PAYMENT"
    assert order["approved_at"] == paid["approved_at"] and order["canceled_at"] is None
    assert order["amount"]["total"] == order["cancel_available_amount"]["total"] == 15000
    assert order["canceled_amount"]["total"] == 0
    assert set(order["amount"]) == set(order["canceled_amount"]) == AMOUNT_KEYS
    (action,) = order["payment_action_details"]
    assert action["payment_action_type"] == "PAYMENT"
    assert (action["aid"], action["amount"]) == (paid["aid"], 15000)
    assert order["selected_card_info"]["card_bin"]

    record = kakao.record(order_id)
    assert record["tid"] == tid
    assert record["sandbox"]["approvals"] == record["sandbox"]["approveCalls"] == 1
    listed = kakao.http.get(
        f"{kakao.base}/sandbox/kakaopay/payments", params={"status": "SUCCESS_PAYMENT"}
    ).json()["payments"]
    assert [p["tid"] for p in listed] == [tid]


@pytest.mark.parametrize(
    "extra, vat", [({}, 1364), ({"tax_free_amount": 5000}, 909), ({"vat_amount": 1000}, 1000)]
)
def test_k1_vat_defaults_to_a_half_up_eleventh_of_the_taxable_amount(kakao, extra, vat):
    order_id, tid, pg_token = kakao.authorized(15000, **extra)

    amount = kakao.approve(tid, order_id, pg_token).json()["amount"]

    assert amount["vat"] == vat
    assert amount["tax_free"] == extra.get("tax_free_amount", 0)


def test_k1_a_new_ready_for_the_same_order_is_the_newest_record(kakao):
    order_id = kakao.new_order_id()
    first = kakao.ready(order_id).json()["tid"]
    second = kakao.ready(order_id).json()["tid"]

    assert first != second
    assert kakao.record(order_id)["tid"] == second
    assert kakao.status(first) == kakao.status(second) == "READY"


# --- K-2 the buyer quits or fails -------------------------------------------------------


@pytest.mark.parametrize(
    "choice, url, status",
    [("cancel", CANCEL_URL, "QUIT_PAYMENT"), ("fail", FAIL_URL, "FAIL_AUTH_PASSWORD")],
)
def test_k2_the_buyer_quits_or_fails_the_password(kakao, choice, url, status):
    order_id = kakao.new_order_id()
    tid = kakao.ready(order_id).json()["tid"]
    kakao.http.get(f"{kakao.base}/kakaopay/window", params={"tid": tid}, timeout=5)

    response = kakao.http.post(
        f"{kakao.base}/kakaopay/window/submit",
        data={"tid": tid, "choice": choice},
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 302 and response.headers["Location"] == url
    assert kakao.status(tid) == status
    assert error_of(kakao.approve(tid, order_id, "0" * 20)) == (400, -783)
    reopened = kakao.http.get(f"{kakao.base}/kakaopay/window", params={"tid": tid}, timeout=5)
    assert reopened.status_code == 400 and "text/html" in reopened.headers["Content-Type"]
    assert kakao.record(order_id)["sandbox"]["approvals"] == 0


def test_k2_steps_before_authentication_show_in_the_lookup(kakao):
    order_id = kakao.new_order_id()
    tid = kakao.ready(order_id).json()["tid"]

    for status in ("SEND_TMS", "OPEN_PAYMENT", "SELECT_METHOD", "ARS_WAITING"):
        assert kakao.buyer(tid, status).json()["status"] == status
        assert kakao.status(tid) == status
        # Not authenticated yet: approve is refused and changes nothing.
        assert error_of(kakao.approve(tid, order_id, "0" * 20)) == (400, -701)

    quit_ = kakao.buyer(tid, "QUIT_PAYMENT").json()
    assert quit_ == {"tid": tid, "status": "QUIT_PAYMENT", "redirectUrl": CANCEL_URL}
    assert kakao.buyer(tid, "OPEN_PAYMENT").status_code == 409


# --- K-3 approve refused ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code, reason", [("-780", "USER_LOCKED"), ("LACK_BALANCE", "LACK_BALANCE")]
)
def test_k3_a_declined_approve_fails_the_payment(kakao, code, reason):
    order_id, tid, pg_token = kakao.authorized()
    kakao.fault(operation="approve", orderId=order_id, errorCode=code, count=1)

    response = kakao.approve(tid, order_id, pg_token)

    assert error_of(response) == (400, -780)
    body = response.json()
    assert body["error_message"] == "approval failure!"
    assert body["extras"]["method_result_code"] == reason
    assert body["extras"]["method_result_message"]
    assert kakao.status(tid) == "FAIL_PAYMENT"
    # The decline is final for this tid: the same pg_token cannot approve it later.
    assert error_of(kakao.approve(tid, order_id, pg_token)) == (400, -783)
    record = kakao.record(order_id)
    assert record["sandbox"]["approvals"] == 0
    assert record["sandbox"]["failure"]["method_result_code"] == reason
    assert error_of(kakao.cancel(tid, 15000)) == (400, -784)


# --- K-4 approve response lost ----------------------------------------------------------


def test_k4_approved_but_the_response_is_lost(kakao):
    order_id, tid, pg_token = kakao.authorized(15000)
    kakao.fault(operation="approve", orderId=order_id, dropResponseAfterCommit=True, count=1)

    with pytest.raises(requests.ConnectionError):
        kakao.approve(tid, order_id, pg_token)

    order = kakao.order(tid).json()
    assert order["status"] == "SUCCESS_PAYMENT" and order["amount"]["total"] == 15000
    # KakaoPay has no idempotency key: a second approve is refused, never replayed.
    again = kakao.approve(tid, order_id, pg_token)
    assert error_of(again) == (400, -702)
    assert again.json()["error_message"] == "payment already approved"
    assert kakao.status(tid) == "SUCCESS_PAYMENT"
    record = kakao.record(order_id)
    assert record["sandbox"]["approvals"] == 1 and record["sandbox"]["approveCalls"] == 2


def test_k4_the_already_approved_code_is_configurable(kakao):
    assert kakao.settings(alreadyApprovedCode=-785)["alreadyApprovedCode"] == -785
    order_id, tid = kakao.paid()

    assert error_of(kakao.approve(tid, order_id, "any-token")) == (400, -785)

    kakao.http.post(f"{kakao.base}/sandbox/reset", timeout=5)
    assert kakao.http.get(f"{kakao.base}/sandbox/kakaopay/settings").json() == {
        "readyWindowSeconds": 900,
        "alreadyApprovedCode": -702,
    }


# --- K-5 mismatches ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("partner_order_id", "order-somebody-else", -706),
        ("partner_user_id", "member-9999", -707),
        ("total_amount", 14999, -704),
        ("pg_token", "0123456789abcdef0123", -708),
    ],
)
def test_k5_an_approve_that_differs_from_ready_is_refused(kakao, field, value, code):
    order_id, tid, pg_token = kakao.authorized(15000)
    body = {"order_id": order_id, "user_id": USER_ID, "pg_token": pg_token}
    if field == "partner_order_id":
        body["order_id"] = value
    elif field == "partner_user_id":
        body["user_id"] = value
    elif field == "pg_token":
        body["pg_token"] = value
    extra = {"total_amount": value} if field == "total_amount" else {}

    refused = kakao.approve(
        tid, body["order_id"], body["pg_token"], user_id=body["user_id"], **extra
    )

    assert error_of(refused) == (400, code)
    assert kakao.status(tid) == "AUTH_PASSWORD"
    assert kakao.record(order_id)["sandbox"]["approvals"] == 0
    assert kakao.approve(tid, order_id, pg_token, total_amount=15000).status_code == 200


def test_k5_a_pg_token_of_another_tid_is_refused(kakao):
    order_id, tid, _token = kakao.authorized()
    _other_order, _other_tid, other_token = kakao.authorized()

    assert error_of(kakao.approve(tid, order_id, other_token)) == (400, -708)
    assert error_of(kakao.approve("T0000000000000000000", order_id, other_token)) == (400, -721)


# --- K-6 cancels ------------------------------------------------------------------------


def test_k6_partial_cancels_until_nothing_is_left(kakao):
    order_id, tid = kakao.paid(15000)

    first = kakao.cancel(tid, 5000, cancel_available_amount=15000)
    assert first.status_code == 200, first.text
    part = first.json()
    assert part["status"] == "PART_CANCEL_PAYMENT" and AID.match(part["aid"])
    assert part["approved_cancel_amount"]["total"] == 5000
    assert part["approved_cancel_amount"]["vat"] == 455  # 5000 / 11 = 454.5, half up
    assert part["canceled_amount"]["total"] == 5000
    assert part["cancel_available_amount"]["total"] == 10000
    assert part["amount"]["total"] == 15000 and STAMP.match(part["canceled_at"])

    stale = kakao.cancel(tid, 1000, cancel_available_amount=15000)
    assert error_of(stale) == (400, -722)
    assert error_of(kakao.cancel(tid, 10001)) == (400, -710)

    last = kakao.cancel(tid, 10000, cancel_available_amount=10000).json()
    assert last["status"] == "CANCEL_PAYMENT"
    assert last["canceled_amount"]["total"] == 15000
    assert last["canceled_amount"]["vat"] == 1364  # the last cancel takes the VAT left
    assert last["cancel_available_amount"] == {k: 0 for k in AMOUNT_KEYS}

    order = kakao.order(tid).json()
    assert order["status"] == "CANCEL_PAYMENT"
    assert [(a["payment_action_type"], a["amount"]) for a in order["payment_action_details"]] == [
        ("PAYMENT", 15000),
        ("CANCEL", 5000),
        ("CANCEL", 10000),
    ]
    assert error_of(kakao.cancel(tid, 1)) == (400, -784)
    assert kakao.record(order_id)["sandbox"]["cancelCalls"] == 5


def test_k6_a_full_cancel_at_once(kakao):
    _order_id, tid = kakao.paid(15000)

    canceled = kakao.cancel(tid, 15000).json()

    assert canceled["status"] == "CANCEL_PAYMENT"
    assert canceled["approved_cancel_amount"]["vat"] == 1364


def test_k6_only_approved_payments_can_be_cancelled(kakao):
    _ready_order = kakao.new_order_id()
    ready_tid = kakao.ready(_ready_order).json()["tid"]
    _order_id, authorized_tid, _token = kakao.authorized()

    assert error_of(kakao.cancel(ready_tid, 1000)) == (400, -784)
    assert error_of(kakao.cancel(authorized_tid, 1000)) == (400, -784)
    assert error_of(kakao.cancel("T0000000000000000000", 1000)) == (400, -721)


def test_k6_tax_free_cannot_be_cancelled_beyond_what_is_left(kakao):
    _order_id, tid = kakao.paid(15000, tax_free_amount=3000)

    assert error_of(kakao.cancel(tid, 5000, tax_free=4000)) == (400, -710)
    # The whole remainder must include the whole tax-free remainder.
    assert error_of(kakao.cancel(tid, 15000, tax_free=0)) == (400, -710)
    done = kakao.cancel(tid, 15000, tax_free=3000).json()
    assert done["canceled_amount"]["tax_free"] == 3000 and done["status"] == "CANCEL_PAYMENT"


def test_k6_a_green_deposit_payment_refuses_partial_cancels(kakao):
    _order_id, tid = kakao.paid(15000, green_deposit=1000)

    assert error_of(kakao.cancel(tid, 5000)) == (400, -784)
    full = kakao.cancel(tid, 15000).json()
    assert full["status"] == "CANCEL_PAYMENT"
    assert full["approved_cancel_amount"]["green_deposit"] == 1000


# --- K-7 auth variants, and bad auth ----------------------------------------------------


@pytest.mark.parametrize("prefix", ["SECRET_KEY", "DEV_SECRET_KEY"])
def test_k7_both_key_prefixes_of_the_new_api_are_accepted(kakao, prefix):
    order_id = kakao.new_order_id()

    response = kakao.call("ready", kakao.ready_body(order_id), authorization=f"{prefix} {SECRET}")

    assert response.status_code == 200 and TID.match(response.json()["tid"])


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "SECRET_KEY DEV_wrong_key",
        f"KakaoAK {SECRET}",
        f"Basic {SECRET}",
        "SECRET_KEY",
        f"secret_key {SECRET}",
    ],
    ids=["missing", "wrong-key", "old-kakaoak", "basic", "no-key", "lowercase"],
)
@pytest.mark.parametrize("operation", ["ready", "approve", "order", "cancel"])
def test_bad_auth_is_a_401_in_kakaopay_shape(kakao, authorization, operation):
    headers = {"Authorization": authorization} if authorization else {}
    response = kakao.http.post(
        f"{kakao.base}{API}/{operation}", json=kakao.ready_body("o-1"), headers=headers
    )

    assert error_of(response) == (401, -401)


# --- K-8 ready expiry -------------------------------------------------------------------


def test_k8_a_tid_not_approved_within_fifteen_minutes_is_refused(kakao):
    early_order, early_tid, early_token = kakao.authorized()
    late_order, late_tid, late_token = kakao.authorized()
    idle_order = kakao.new_order_id()
    idle_tid = kakao.ready(idle_order).json()["tid"]

    kakao.advance(14 * 60)
    assert kakao.approve(early_tid, early_order, early_token).status_code == 200
    kakao.advance(60)

    assert error_of(kakao.approve(late_tid, late_order, late_token)) == (400, -723)
    # The lookup keeps the last status; only approve (and the buyer's page) refuse it.
    assert kakao.status(late_tid) == "AUTH_PASSWORD"
    assert kakao.status(idle_tid) == "READY"
    assert kakao.record(late_order)["sandbox"]["expired"] is True
    assert kakao.status(early_tid) == "SUCCESS_PAYMENT"  # an approved tid never expires
    page = kakao.http.get(f"{kakao.base}/kakaopay/window", params={"tid": idle_tid}, timeout=5)
    assert page.status_code == 400
    refused = kakao.http.post(
        f"{kakao.base}/sandbox/kakaopay/authorize", json={"tid": idle_tid}, timeout=5
    )
    assert refused.status_code == 409 and refused.json()["error_code"] == -723


def test_k8_the_ready_window_is_configurable(kakao):
    assert kakao.settings(readyWindowSeconds=60)["readyWindowSeconds"] == 60
    order_id, tid, pg_token = kakao.authorized()

    kakao.advance(60)

    assert error_of(kakao.approve(tid, order_id, pg_token)) == (400, -723)


# --- cid, malformed input, unknown routes -----------------------------------------------


@pytest.mark.parametrize("operation", ["ready", "approve", "order", "cancel"])
def test_an_unknown_cid_is_refused(kakao, operation):
    order_id, tid = kakao.paid()
    bodies = {
        "ready": kakao.ready_body(kakao.new_order_id()),
        "approve": {
            "tid": tid,
            "partner_order_id": order_id,
            "partner_user_id": USER_ID,
            "pg_token": "x",
        },
        "order": {"tid": tid},
        "cancel": {"tid": tid, "cancel_amount": 1000, "cancel_tax_free_amount": 0},
    }

    response = kakao.call(operation, {**bodies[operation], "cid": "TCWRONG000"})

    assert error_of(response) == (400, -731)
    assert kakao.status(tid) == "SUCCESS_PAYMENT"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{not json",
        b"[]",
        b"null",
        b'"x"',
        b"[" * 50_000,
        b"\xff\xfe",
        b'{"cid": 1}',
    ],
)
@pytest.mark.parametrize("operation", ["ready", "approve", "order", "cancel"])
def test_malformed_bodies_get_kakaopay_errors(kakao, raw, operation):
    response = kakao.call(operation, data=raw, headers={"Content-Type": "application/json"})

    assert error_of(response) == (400, -2)


@pytest.mark.parametrize(
    "overrides",
    [
        {"partner_order_id": None},
        {"partner_order_id": ""},
        {"partner_order_id": "x" * 101},
        {"partner_user_id": 7},
        {"item_name": None},
        {"quantity": "1"},
        {"quantity": 0},
        {"total_amount": "15000"},
        {"total_amount": 0},
        {"total_amount": True},
        {"total_amount": 10.5},
        {"tax_free_amount": None},
        {"tax_free_amount": -1},
        {"approval_url": "ftp://shop.test/ok"},
        {"cancel_url": None},
        {"fail_url": "x" * 256},
        {"install_month": 13},
        {"payment_method_type": "BITCOIN"},
        {"cid": None},
    ],
)
def test_bad_ready_fields_are_refused_with_minus_2(kakao, overrides):
    body = kakao.ready_body(kakao.new_order_id())
    for name, value in overrides.items():
        if value is None:
            body.pop(name)
        else:
            body[name] = value

    assert error_of(kakao.call("ready", body)) == (400, -2)


@pytest.mark.parametrize(
    "overrides", [{"tax_free_amount": 15001}, {"vat_amount": 20000}, {"green_deposit": 15001}]
)
def test_inconsistent_ready_amounts_are_refused(kakao, overrides):
    body = kakao.ready_body(kakao.new_order_id(), 15000, **overrides)

    assert error_of(kakao.call("ready", body)) == (400, -722)


@pytest.mark.parametrize(
    "body",
    [
        {"tid": "T1", "partner_order_id": "o", "partner_user_id": "u"},  # no pg_token
        {"partner_order_id": "o", "partner_user_id": "u", "pg_token": "t"},  # no tid
        {"tid": "T1", "partner_order_id": "o", "partner_user_id": "u", "pg_token": "t",
         "total_amount": "15000"},
    ],
)  # fmt: skip
def test_bad_approve_fields_are_refused_with_minus_2(kakao, body):
    assert error_of(kakao.call("approve", {"cid": CID, **body})) == (400, -2)


@pytest.mark.parametrize(
    "body",
    [
        {"cancel_tax_free_amount": 0},
        {"cancel_amount": 0, "cancel_tax_free_amount": 0},
        {"cancel_amount": 1000},
        {"cancel_amount": "1000", "cancel_tax_free_amount": 0},
        {"cancel_amount": 1000, "cancel_tax_free_amount": 0, "cancel_available_amount": "x"},
    ],
)
def test_bad_cancel_fields_are_refused_with_minus_2(kakao, body):
    _order_id, tid = kakao.paid()

    assert error_of(kakao.call("cancel", {"cid": CID, "tid": tid, **body})) == (400, -2)
    assert kakao.status(tid) == "SUCCESS_PAYMENT"


def test_a_huge_body_and_unknown_routes_get_kakaopay_errors(kakao):
    huge = kakao.call(
        "ready",
        data=b'{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    unknown = kakao.http.post(f"{kakao.base}/kakaopay/online/v1/payment/refund", json={})
    wrong_method = kakao.http.get(f"{kakao.base}{API}/ready")

    assert error_of(huge) == (413, -2)
    assert error_of(unknown) == (404, -404)
    assert error_of(wrong_method) == (404, -404)


def test_the_lookup_of_an_unknown_tid(kakao):
    assert error_of(kakao.order("T0000000000000000000")) == (400, -721)


def test_the_buyer_page_and_shortcuts_refuse_bad_input(kakao):
    order_id = kakao.new_order_id()
    tid = kakao.ready(order_id).json()["tid"]
    base = kakao.base

    assert kakao.http.get(f"{base}/kakaopay/window", params={"tid": "T1"}).status_code == 400
    assert kakao.http.get(f"{base}/kakaopay/window").status_code == 400
    bad_choice = kakao.http.post(
        f"{base}/kakaopay/window/submit", data={"tid": tid, "choice": "steal"}
    )
    assert bad_choice.status_code == 400
    malformed = kakao.http.post(
        f"{base}/sandbox/kakaopay/authorize",
        data=b"[",
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    missing = kakao.http.post(f"{base}/sandbox/kakaopay/authorize", json={"tid": "T1"})
    assert missing.status_code == 404
    assert kakao.buyer(tid, "SUCCESS_PAYMENT").status_code == 400
    kakao.authorize(tid)
    twice = kakao.http.post(f"{base}/sandbox/kakaopay/authorize", json={"tid": tid})
    assert twice.status_code == 409 and twice.json()["error_code"] == -783
    bad_settings = kakao.http.put(
        f"{base}/sandbox/kakaopay/settings", json={"alreadyApprovedCode": 702}
    )
    assert bad_settings.status_code == 400


# --- faults -----------------------------------------------------------------------------


def test_failed_before_commit_then_the_retry_succeeds(kakao):
    order_id, tid, pg_token = kakao.authorized()
    kakao.fault(operation="approve", orderId=order_id, failBeforeCommit=True, count=1)

    with pytest.raises(requests.ConnectionError):
        kakao.approve(tid, order_id, pg_token)
    assert kakao.status(tid) == "AUTH_PASSWORD"

    assert kakao.approve(tid, order_id, pg_token).status_code == 200
    assert kakao.record(order_id)["sandbox"]["approvals"] == 1


@pytest.mark.parametrize("committed", [False, True], ids=["nothing-done", "approved-anyway"])
def test_a_transient_error_hides_either_outcome(kakao, committed):
    order_id, tid, pg_token = kakao.authorized()
    kakao.fault(operation="approve", orderId=order_id, errorCode="-500", commit=committed, count=1)

    assert error_of(kakao.approve(tid, order_id, pg_token)) == (500, -500)

    assert kakao.status(tid) == ("SUCCESS_PAYMENT" if committed else "AUTH_PASSWORD")
    retry = kakao.approve(tid, order_id, pg_token)
    if committed:
        assert error_of(retry) == (400, -702)
    else:
        assert retry.status_code == 200
    assert kakao.record(order_id)["sandbox"]["approvals"] == 1


def test_an_injected_code_keeps_a_chosen_http_status(kakao):
    order_id, tid = kakao.paid()
    kakao.fault(operation="cancel", orderId=order_id, errorCode="-781", httpStatus=503, count=1)
    kakao.fault(operation="lookup", orderId=order_id, errorCode="-1", count=1)

    assert error_of(kakao.cancel(tid, 1000)) == (503, -781)
    assert error_of(kakao.order(tid)) == (500, -1)
    assert kakao.order(tid).json()["cancel_available_amount"]["total"] == 15000


@pytest.mark.parametrize("committed", [False, True], ids=["held-only", "approved-then-held"])
def test_a_timeout_holds_until_the_client_gives_up(kakao, committed):
    order_id, tid, pg_token = kakao.authorized()
    kakao.fault(operation="approve", orderId=order_id, timeout=True, commit=committed, count=1)

    with pytest.raises(requests.Timeout):
        kakao.approve(tid, order_id, pg_token, timeout=1.0)

    assert kakao.status(tid) == ("SUCCESS_PAYMENT" if committed else "AUTH_PASSWORD")
    held = eventually(
        lambda: [r for r in kakao.requests_for(order_id, "approve") if r.get("outcome") == "held"],
        what="the held request to end",
    )
    assert held[0]["ms"] < 10_000
    retry = kakao.approve(tid, order_id, pg_token)
    assert retry.status_code == 400 if committed else retry.status_code == 200
    assert kakao.status(tid) == "SUCCESS_PAYMENT"


def test_a_fault_on_ready_can_lose_the_tid(kakao):
    order_id = kakao.new_order_id()
    kakao.fault(operation="ready", orderId=order_id, dropResponseAfterCommit=True, count=1)

    with pytest.raises(requests.ConnectionError):
        kakao.ready(order_id)

    assert kakao.record(order_id)["status"] == "READY"  # created, but the shop never saw it
    assert kakao.ready(order_id).status_code == 200


# --- logs and state ---------------------------------------------------------------------


def test_the_request_log_names_the_order_and_tid_never_the_key(kakao):
    order_id, tid = kakao.paid()
    kakao.order(tid)

    entries = kakao.requests_for(order_id)
    assert {e["operation"] for e in entries} >= {"ready", "authorize", "approve", "lookup"}
    approve = next(e for e in entries if e["operation"] == "approve")
    assert approve["gateway"] == "kakaopay" and approve["paymentKey"] == tid
    assert approve["status"] == 200

    def logged():
        output = kakao.process.output()
        return output if tid in output else None

    output = eventually(logged, what="the log lines")
    assert SECRET not in output
    assert "Authorization" not in output


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "sandbox-state.json"
    process, base = start_sandbox("--kakaopay-secret-key", SECRET, "--state-file", str(state))
    kakao = KakaoSandbox(base, process)
    try:
        order_id, tid = kakao.paid(15000)
        assert kakao.cancel(tid, 5000).status_code == 200
        time.sleep(1.2)  # the state file is written at most twice a second
    finally:
        process.stop()

    process, base = start_sandbox("--kakaopay-secret-key", SECRET, "--state-file", str(state))
    kakao = KakaoSandbox(base, process)
    try:
        order = kakao.order(tid).json()
        assert order["status"] == "PART_CANCEL_PAYMENT"
        assert [a["payment_action_type"] for a in order["payment_action_details"]] == [
            "PAYMENT",
            "CANCEL",
        ]
        assert kakao.record(order_id)["sandbox"]["approvals"] == 1
        assert error_of(kakao.approve(tid, order_id, "any")) == (400, -702)
        assert kakao.cancel(tid, 10000).json()["status"] == "CANCEL_PAYMENT"
    finally:
        process.stop()

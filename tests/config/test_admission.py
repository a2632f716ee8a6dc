"""config/admission.py: new payment work is refused at once past what a process can
finish; everything else passes. The WSGI middleware is driven directly, with a clock
the test moves, around an application that takes the time the test says."""

import json
import threading

import pytest

from config.admission import Admission, RateController

CHECKOUT = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/payments/checkout"}
CONFIRM = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/payments/confirm"}
A_GET = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/payments/ord-abcdef"}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class App:
    """Answers 200; each call takes `seconds` on the test's clock."""

    def __init__(self, clock: Clock, seconds: float = 0.01):
        self.clock, self.seconds, self.calls = clock, seconds, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        self.clock.now += self.seconds
        start_response("200 OK", [])
        return [b"ok"]


def call(admission, environ) -> tuple[str, dict, bytes]:
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(admission(dict(environ), start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def limits(settings):
    settings.ADMISSION_ENABLED = True
    settings.ADMISSION_MAX_IN_FLIGHT = 4
    settings.ADMISSION_MAX_RATE = 50.0
    settings.ADMISSION_MIN_RATE = 2.0
    settings.ADMISSION_TARGET_SECONDS = 0.2
    settings.ADMISSION_MAX_QUEUE_SECONDS = 10.0
    settings.ADMISSION_RETRY_AFTER_SECONDS = 2
    settings.NUM_PROXIES = 0
    return settings


def test_a_refusal_is_a_503_overloaded_with_retry_after_and_does_no_work(limits):
    clock = Clock()
    app = App(clock)
    admission = Admission(app, clock=clock, wall=clock)
    admission.in_flight = 4  # every slot taken

    status, headers, body = call(admission, CONFIRM)

    assert status.startswith("503") and headers["Retry-After"] == "2"
    assert json.loads(body)["code"] == "OVERLOADED" and json.loads(body)["reason"] == "in_flight"
    assert app.calls == 0


def test_a_payments_get_and_other_routes_are_never_refused(limits):
    clock = Clock()
    app = App(clock)
    admission = Admission(app, clock=clock, wall=clock)
    admission.in_flight = 4

    for environ in (A_GET, {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}):
        assert call(admission, environ)[0] == "200 OK"
    assert app.calls == 2


def test_in_flight_counts_what_is_running_and_frees_it_when_done(limits):
    clock = Clock()
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(environ, start_response):
        started.release()
        release.wait(5)
        start_response("200 OK", [])
        return [b"ok"]

    admission = Admission(slow, clock=clock, wall=clock)
    threads = [threading.Thread(target=call, args=(admission, CONFIRM)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=5)

    refused = call(admission, CONFIRM)
    release.set()
    for thread in threads:
        thread.join()

    assert refused[0].startswith("503") and admission.in_flight == 0
    admission.app = App(clock)
    assert call(admission, CONFIRM)[0] == "200 OK"


def offer(controller: RateController, clock: Clock, *, seconds: int, per_second: int, takes: float):
    """Offer checkouts evenly; each admitted one reports that it took `takes` seconds."""
    admitted = 0
    for _ in range(seconds * per_second):
        if controller.admit():
            admitted += 1
            controller.finished(takes)
        clock.now += 1 / per_second
    return admitted


def test_checkouts_slower_than_the_target_bring_the_rate_down():
    clock = Clock()
    controller = RateController(ceiling=50, floor=2, target=0.2, clock=clock)
    first = offer(controller, clock, seconds=2, per_second=100, takes=0.05)

    slow = offer(controller, clock, seconds=10, per_second=100, takes=0.5)

    assert first >= 90  # quick checkouts: up to the ceiling
    assert controller.rate < 20 and slow < 400  # of 1,000 offered: a tenth less each second
    offer(controller, clock, seconds=60, per_second=100, takes=0.5)
    assert controller.rate == 2  # never below the floor: some payments always get in


def test_the_rate_climbs_back_when_checkouts_are_quick_again():
    clock = Clock()
    controller = RateController(ceiling=50, floor=2, target=0.2, clock=clock)
    controller.rate = 2.0

    offer(controller, clock, seconds=30, per_second=100, takes=0.01)
    assert 30 < controller.rate < 50  # by ones, then by twentieths
    offer(controller, clock, seconds=30, per_second=100, takes=0.01)
    assert controller.rate == 50  # up to the ceiling, never past it


def test_an_idle_second_does_not_raise_the_rate():
    clock = Clock()
    controller = RateController(ceiling=50, floor=2, target=0.2, clock=clock)
    controller.rate = 10.0

    offer(controller, clock, seconds=20, per_second=2, takes=0.01)

    assert controller.rate == 10


def test_a_request_our_proxy_queued_too_long_is_not_started(limits):
    limits.NUM_PROXIES = 1
    clock = Clock()
    app = App(clock)
    admission = Admission(app, clock=clock, wall=clock)
    stale = {**CONFIRM, "HTTP_X_REQUEST_START": f"t={clock.now - 11:.3f}"}
    fresh = {**CONFIRM, "HTTP_X_REQUEST_START": f"t={clock.now - 1:.3f}"}

    assert json.loads(call(admission, stale)[2])["reason"] == "queued"
    assert call(admission, fresh)[0] == "200 OK"
    assert app.calls == 1


def test_a_queue_stamp_is_ignored_without_a_proxy_of_ours(limits):
    clock = Clock()
    admission = Admission(App(clock), clock=clock, wall=clock)
    forged = {**CONFIRM, "HTTP_X_REQUEST_START": "t=1"}

    assert call(admission, forged)[0] == "200 OK"


def test_it_can_be_turned_off(limits):
    limits.ADMISSION_ENABLED = False
    clock = Clock()
    admission = Admission(App(clock), clock=clock, wall=clock)
    admission.in_flight = 99

    assert call(admission, CHECKOUT)[0] == "200 OK"


def test_checkouts_leave_room_for_the_confirms_of_payments_already_begun(limits):
    clock = Clock()
    admission = Admission(App(clock), clock=clock, wall=clock)
    admission.in_flight = 3  # of 4: a checkout may use at most 3 (four fifths)

    checkout = call(admission, CHECKOUT)
    confirm = call(admission, CONFIRM)

    assert json.loads(checkout[2])["reason"] == "in_flight"
    assert confirm[0] == "200 OK"


def test_a_target_of_zero_turns_the_adaptive_rate_off(limits):
    limits.ADMISSION_TARGET_SECONDS = 0
    clock = Clock()
    admission = Admission(App(clock), clock=clock, wall=clock)
    admission.rate.rate = admission.rate.tokens = 0.0  # it would refuse every checkout

    assert call(admission, CHECKOUT)[0] == "200 OK"
    limits.ADMISSION_TARGET_SECONDS = 0.2
    assert json.loads(call(admission, CHECKOUT)[2])["reason"] == "rate"

"""With --state-file, a restarted sandbox (even after kill -9) still knows its payments."""

import json
import signal
import time

import pytest
import requests

from tests.sandbox import TossSandbox, start_sandbox

pytestmark = pytest.mark.processes


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill-9"])
def test_state_survives_a_restart(tmp_path, stop_signal):
    state = tmp_path / "sandbox-state.json"
    process, base = start_sandbox("--state-file", str(state))
    toss = TossSandbox(base, process)
    try:
        order_id = toss.new_order_id()
        payment_key = toss.authorize(order_id, 15000)
        first = toss.confirm(payment_key, order_id, 15000, key="persist-key")
        assert first.status_code == 200
        toss.advance(120)
        time.sleep(1.2)  # the state file is written at most twice a second
    finally:
        process.stop(stop_signal)

    process, base = start_sandbox("--state-file", str(state))
    toss = TossSandbox(base, process)
    try:
        assert toss.get(payment_key).json()["status"] == "DONE"
        assert toss.get_order(order_id).json()["paymentKey"] == payment_key
        assert (
            toss.confirm(payment_key, order_id, 15000, key="persist-key").content == first.content
        )
        assert requests.get(f"{base}/sandbox/clock", timeout=5).json()["offsetSeconds"] >= 120
    finally:
        process.stop()


def test_an_unreadable_state_file_is_set_aside_not_fatal(tmp_path):
    state = tmp_path / "sandbox-state.json"
    state.write_text("{not json")

    process, base = start_sandbox("--state-file", str(state))
    try:
        assert requests.get(f"{base}/sandbox/health", timeout=5).ok
    finally:
        process.stop()

    assert [p.name.split(".unreadable-")[0] for p in tmp_path.glob("*.unreadable-*")] == [
        "sandbox-state.json"
    ]


def test_a_state_file_from_before_other_pgs_is_read(tmp_path):
    state = tmp_path / "sandbox-state.json"
    process, base = start_sandbox("--state-file", str(state))
    toss = TossSandbox(base, process)
    try:
        order_id = toss.new_order_id()
        toss.confirm(toss.authorize(order_id, 1000), order_id, 1000)
        time.sleep(1.2)
    finally:
        process.stop()
    current = json.loads(state.read_text())
    state.write_text(json.dumps({**current, "format": 1, "toss": current["ledgers"]["toss"]}))

    process, base = start_sandbox("--state-file", str(state))
    try:
        assert TossSandbox(base, process).get_order(order_id).json()["status"] == "DONE"
    finally:
        process.stop()

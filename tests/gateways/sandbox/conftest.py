import pytest
import requests

from tests.sandbox import Receiver, TossSandbox, start_sandbox


@pytest.fixture(scope="session")
def sandbox_process():
    process, base = start_sandbox()
    yield process, base
    process.stop()


@pytest.fixture
def toss(sandbox_process) -> TossSandbox:
    process, base = sandbox_process
    assert requests.post(f"{base}/sandbox/reset", timeout=5).ok
    return TossSandbox(base, process)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()

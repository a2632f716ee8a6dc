"""Screenshot a payment's admin page and the shop's result pages in headless Chromium:
`make screenshot` (docs/).

It builds a throwaway SQLite database, starts the PG sandbox and the web server, drives
one card payment through a lost PG answer, recovery, a webhook and an operator's
re-check, one virtual account (가상계좌) to its issue and one to a late deposit (all
through the real services and the sandbox), logs the operator and the buyer in, and
drives Chromium through chromedriver's WebDriver HTTP API (no extra Python package). It
writes the admin page to the path given (docs/payment-detail.png), and beside it
shop-receipt-card.png (the card's receipt: card company, masked number, approval
number), shop-virtual-account.png (the account to pay into and its due date), and
shop-refund-account.png (the order page of an account paid in after it expired, asking
for the bank account its refund goes to). Needs Debian's chromium and chromium-driver.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    sys.exit(f"{what} did not start within {timeout:.0f} s")


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def build_payment(sandbox: str) -> dict:
    """One card payment with a story and one issued virtual account: the card's id, the
    shop's result page of each, and the operator's and the buyer's session cookies."""
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from members.models import Member
    from payments.models import PaymentEvent
    from payments.services.checkout import payment_checkout
    from payments.services.confirm import payment_confirm
    from payments.services.deposits import deposit_watch
    from payments.services.operator import payment_operator_recheck
    from payments.services.pg import pg_read_webhook
    from payments.services.recovery import recovery_attempt, recovery_claim
    from payments.services.webhooks import webhook_process, webhook_receive
    from products.models import Product, Seller

    buyer = Member.objects.create_user(email="buyer@example.com", password="x" * 16, name="김구매")
    operator = Member.objects.create_user(
        email="operator@example.com", password="x" * 16, name="운영자", is_staff=True
    )
    operator.groups.add(Group.objects.get(name="payment operators"))
    seller = Seller.objects.create(name="한빛상점")
    product = Product.objects.create(seller=seller, name="무선 키보드", price=39000, stock=20)

    answer, _ = payment_checkout(
        buyer=buyer,
        gateway="toss",
        purpose="GOODS",
        lines=[(product.id, 2)],
        amount=None,
        render=lambda event, pg_config: {"orderId": event.order_id, "amount": event.total_amount},
    )
    order_id = answer["orderId"]
    http = requests.Session()
    key = http.post(
        f"{sandbox}/sandbox/toss/authorize", json={"orderId": order_id, "amount": 78000}
    ).json()["paymentKey"]
    # The PG approves, and the answer is lost on the way back: UNKNOWN.
    http.put(
        f"{sandbox}/sandbox/faults",
        json={
            "gateway": "toss",
            "operation": "confirm",
            "orderId": order_id,
            "dropResponseAfterCommit": True,
        },
    )
    event = payment_confirm(buyer=buyer, order_id=order_id, payment_key=key, amount=78000)
    http.delete(f"{sandbox}/sandbox/faults")
    # The PG's webhook arrives while the payment is in doubt...
    payment = http.get(f"{sandbox}/toss/v1/payments/{key}", auth=_toss_auth()).json()
    notice, _ = pg_read_webhook(
        "toss",
        json.dumps(
            {"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "now", "data": payment}
        ).encode(),
    )
    webhook = webhook_receive(gateway="toss", notice=notice)
    # ...but recovery gets there first, asks the PG, and records SUCCESS.
    for event_id in recovery_claim(owner="worker-1", limit=1, order_id=order_id):
        recovery_attempt(event_id=event_id, owner="worker-1", actor="worker")
    webhook_process(webhook_id=webhook.pk)
    payment_operator_recheck(event_id=event.pk, operator=operator.email)

    def issue_virtual_account() -> tuple[str, str]:
        """The buyer picks 가상계좌 in the window; the confirm gets the account."""
        answer, _ = payment_checkout(
            buyer=buyer,
            gateway="toss",
            purpose="GOODS",
            lines=[(product.id, 1)],
            amount=None,
            method="VIRTUAL_ACCOUNT",
            render=lambda event, pg_config: {"orderId": event.order_id},
        )
        order = answer["orderId"]
        payment_key = http.post(
            f"{sandbox}/sandbox/toss/authorize",
            json={"orderId": order, "amount": 39000, "method": "VIRTUAL_ACCOUNT"},
        ).json()["paymentKey"]
        payment_confirm(buyer=buyer, order_id=order, payment_key=payment_key, amount=39000)
        return order, payment_key

    va_order, va_key = issue_virtual_account()
    # Another one expires unpaid, then the buyer pays in anyway: its refund waits for the
    # bank account the buyer names on the order page.
    late_order, _ = issue_virtual_account()
    http.post(f"{sandbox}/sandbox/clock/advance", json={"seconds": 73 * 3600})
    PaymentEvent.objects.filter(order_id=late_order).update(next_attempt_at=timezone.now())
    deposit_watch()
    http.post(f"{sandbox}/sandbox/toss/deposit", json={"orderId": late_order, "late": True})
    late_event = PaymentEvent.objects.get(order_id=late_order)
    payment_operator_recheck(event_id=late_event.pk, operator=operator.email)

    def result_page(order: str, payment_key: str, amount: int) -> str:
        return f"/shop/payments/success?orderId={order}&paymentKey={payment_key}&amount={amount}"

    operator_client, buyer_client = Client(), Client()
    operator_client.force_login(operator)
    buyer_client.force_login(buyer)
    return {
        "event_id": event.pk,
        "card_page": result_page(order_id, key, 78000),
        "va_page": result_page(va_order, va_key, 39000),
        "late_page": f"/shop/orders/{late_order}",
        "operator": operator_client.cookies["sessionid"].value,
        "buyer": buyer_client.cookies["sessionid"].value,
    }


def _toss_auth():
    from django.conf import settings

    return (settings.PAYMENT_GATEWAYS["toss"]["SECRET_KEY"], "")


def screenshot(url: str, base: str, session: str, out: Path, size: str = "1400,2300") -> None:
    port = free_port()
    driver = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    api = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{api}/status", "chromedriver")
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--window-size={size}",
            f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
        ]
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }
        created = requests.post(
            f"{api}/session", json={"capabilities": {"alwaysMatch": capabilities}}, timeout=60
        ).json()
        sid = created["value"]["sessionId"]
        requests.post(f"{api}/session/{sid}/url", json={"url": f"{base}/admin/login/"}, timeout=30)
        cookie = {"name": "sessionid", "value": session, "path": "/"}
        requests.post(f"{api}/session/{sid}/cookie", json={"cookie": cookie}, timeout=30)
        requests.post(f"{api}/session/{sid}/url", json={"url": url}, timeout=30)
        png = requests.get(f"{api}/session/{sid}/screenshot", timeout=30).json()["value"]
        out.write_bytes(base64.b64decode(png))
        requests.delete(f"{api}/session/{sid}", timeout=30)
    finally:
        driver.terminate()
        driver.wait(10)


def main() -> None:
    out = ROOT / (sys.argv[1] if len(sys.argv) > 1 else "docs/payment-detail.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="screenshot-"))
    sandbox_port, web_port = free_port(), free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "CACHE_DIR": str(work / "cache"),
        "PG_SANDBOX_URL": sandbox,
        "TOSS_API_BASE": f"{sandbox}/toss",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update({k: v for k, v in env.items() if k != "REDIS_URL"})
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    procs = [
        start(
            [python, "manage.py", "run_pg_sandbox", "--port", str(sandbox_port)],
            env,
            work / "sandbox.log",
        ),
        start(
            [python, "manage.py", "runserver", f"127.0.0.1:{web_port}", "--noreload"],
            env,
            work / "web.log",
        ),
    ]
    try:
        wait_until_up(f"{sandbox}/sandbox/health", "the PG sandbox")
        base = f"http://127.0.0.1:{web_port}"
        wait_until_up(f"{base}/healthz", "the web server")
        print("building a payment with a history, and a virtual account...", flush=True)
        built = build_payment(sandbox)
        shots = [
            (f"/admin/payments/paymentevent/{built['event_id']}/change/", "operator", out, None),
            (built["card_page"], "buyer", out.parent / "shop-receipt-card.png", "900,700"),
            (built["va_page"], "buyer", out.parent / "shop-virtual-account.png", "900,700"),
            (built["late_page"], "buyer", out.parent / "shop-refund-account.png", "900,900"),
        ]
        for path, who, target, size in shots:
            print(f"screenshot of {path}", flush=True)
            screenshot(f"{base}{path}", base, built[who], target, size or "1400,2300")
            print(f"wrote {target.relative_to(ROOT)} ({target.stat().st_size // 1024} KiB)")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

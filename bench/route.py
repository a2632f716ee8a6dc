"""Which of the project's modules a synchronous confirm runs through, from the view to the
PG's HTTP call and back: a trace of one real confirm against the PG sandbox.

    .venv/bin/python bench/route.py [--decline]

It starts the sandbox, makes a buyer, a product and a checkout on a throwaway SQLite
database, authorises the payment in the sandbox, then records every function of the
project (config, members, products, payments, gateways) that runs while the confirm
view's `post` runs, and prints the modules in the order they were first entered, with the
functions run in each. --decline makes the PG decline the confirm instead.

Modules any request passes through whatever it does (parsing the JSON body and the
`Prefer` header, the StrictIntegerField, log processors, giving DB connections back) are
listed apart as plumbing: they are not where a confirm's logic lives.
"""

import argparse
import os
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PLUMBING = {
    "config/api/parsers.py",
    "config/api/prefer.py",
    "config/strict_json.py",
    "config/api/fields.py",
    "config/log_processors.py",
    "config/settings/logs.py",
    "config/db/connections.py",
}
PACKAGES = ("config/", "members/", "products/", "payments/", "gateways/")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decline", action="store_true", help="the PG declines the confirm")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["TEST_SQLITE_PATH"] = str(Path(tempfile.mkdtemp(prefix="route-")) / "db.sqlite3")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    from tests.sandbox import start_sandbox

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    toss = settings.PAYMENT_GATEWAYS["toss"]
    process, base = start_sandbox(secrets=(toss["SECRET_KEY"],), client_keys=(toss["CLIENT_KEY"],))
    try:
        settings.PAYMENT_GATEWAYS = {**settings.PAYMENT_GATEWAYS}
        settings.PAYMENT_GATEWAYS["toss"] = {**toss, "API_BASE": f"{base}/toss"}
        calls = trace_one_confirm(base, decline=args.decline)
    finally:
        process.stop()
    report(calls)


def trace_one_confirm(base: str, *, decline: bool) -> "OrderedDict[str, list[str]]":
    import requests
    from django.urls import resolve
    from rest_framework.test import APIClient

    from members.models import Member
    from products.models import Product, Seller

    buyer = Member.objects.create_user(email="route@example.com", password="x" * 16, name="경로")
    seller = Seller.objects.create(name="route seller")
    product = Product.objects.create(seller=seller, name="route product", price=5000, stock=5)
    client = APIClient()
    client.force_authenticate(buyer)
    body = {"gateway": "toss", "items": [{"productId": product.pk, "quantity": 1}]}
    order = client.post("/api/v1/payments/checkout", body, format="json").json()
    key = requests.post(
        f"{base}/sandbox/toss/authorize",
        json={"orderId": order["orderId"], "amount": order["amount"]},
        timeout=5,
    ).json()["paymentKey"]
    if decline:
        fault = {"gateway": "toss", "operation": "confirm", "errorCode": "REJECT_CARD_COMPANY"}
        requests.put(f"{base}/sandbox/faults", json=fault, timeout=5)

    view = resolve("/api/v1/payments/confirm").func.view_class
    calls: OrderedDict[str, list[str]] = OrderedDict()

    def profile(frame, event, arg):
        if event != "call":
            return
        path = frame.f_code.co_filename
        if not path.startswith(str(ROOT)) or "/.venv/" in path:
            return
        relative = os.path.relpath(path, ROOT)
        if relative.startswith(PACKAGES):
            names = calls.setdefault(relative, [])
            if frame.f_code.co_name not in names:
                names.append(frame.f_code.co_name)

    post = view.post

    def traced(self, request, *a, **kw):
        sys.setprofile(profile)
        try:
            return post(self, request, *a, **kw)
        finally:
            sys.setprofile(None)

    view.post = traced
    confirm = {"orderId": order["orderId"], "paymentKey": key, "amount": order["amount"]}
    answer = client.post("/api/v1/payments/confirm", confirm, format="json")
    view.post = post
    print(f"confirm answered {answer.status_code}: {answer.json()}\n")
    return calls


def report(calls) -> None:
    logic = [(module, names) for module, names in calls.items() if module not in PLUMBING]
    plumbing = [(module, names) for module, names in calls.items() if module in PLUMBING]
    print(f"{len(logic)} modules, in the order the confirm first enters them:")
    for n, (module, names) in enumerate(logic, 1):
        print(f"{n:3}. {module}: {', '.join(names)}")
    print(f"\nand {len(plumbing)} plumbing modules every request passes through:")
    for module, names in plumbing:
        print(f"     {module}: {', '.join(names)}")


if __name__ == "__main__":
    main()

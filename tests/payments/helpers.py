from payments.models import PaymentEvent, PaymentHistory


def checkout(client, items: list[tuple[int, int]], gateway: str = "toss", **headers):
    body = {"gateway": gateway, "items": [{"productId": p, "quantity": q} for p, q in items]}
    return client.post("/api/v1/payments/checkout", body, format="json", **headers)


def confirm(client, order_id: str, payment_key: str, amount):
    body = {"orderId": order_id, "paymentKey": payment_key, "amount": amount}
    return client.post("/api/v1/payments/confirm", body, format="json")


def transitions(order_id: str) -> list[tuple[str, str]]:
    event = PaymentEvent.objects.get(order_id=order_id)
    return list(
        PaymentHistory.objects.filter(event=event)
        .order_by("id")
        .values_list("from_status", "to_status")
    )


def pg_confirms(sandbox, order_id: str) -> list[dict]:
    """What the PG was asked to confirm for this order (from the sandbox's own log)."""
    return sandbox.requests_for(order_id, "confirm")


def point_gateway_at_sandbox(settings, sandbox, gateway: str) -> None:
    """Send the app's calls for this gateway to the test sandbox, with a short read timeout."""
    gateways = {**settings.PAYMENT_GATEWAYS}
    gateways[gateway] = {
        **gateways[gateway],
        "API_BASE": f"{sandbox.base}/{gateway}",
        "READ_TIMEOUT": 1.5,
    }
    settings.PAYMENT_GATEWAYS = gateways

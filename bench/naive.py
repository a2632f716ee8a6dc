"""The naive confirm, for contrast only (never imported by the service).

What the seed project warned against: one transaction that locks the payment and its
product rows, calls the PG, and writes the result. Every confirm of a hot product waits
for the one before it, and every confirm holds a database connection (and a row lock)
for the whole PG latency.
"""

import requests
from django.conf import settings
from django.db import transaction
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.models import PaymentEvent
from products.models import Product

_http = requests.Session()


class NaiveConfirmApi(APIView):
    def post(self, request):
        toss = settings.PAYMENT_GATEWAYS["toss"]
        with transaction.atomic():
            event = PaymentEvent.objects.select_for_update().get(
                order_id=request.data["orderId"], buyer=request.user
            )
            product_ids = list(event.lines.values_list("product_id", flat=True))
            list(Product.objects.select_for_update().filter(pk__in=product_ids).order_by("id"))
            answer = _http.post(
                f"{toss['API_BASE']}/v1/payments/confirm",
                json={
                    "paymentKey": request.data["paymentKey"],
                    "orderId": event.order_id,
                    "amount": event.total_amount,
                },
                auth=(toss["SECRET_KEY"], ""),
                headers={"Idempotency-Key": event.pg_idempotency_key},
                timeout=30,
            )
            status = "SUCCESS" if answer.ok and answer.json()["status"] == "DONE" else "FAILURE"
            PaymentEvent.objects.filter(pk=event.pk).update(
                status=status, payment_key=request.data["paymentKey"]
            )
        return Response({"orderId": event.order_id, "status": status})

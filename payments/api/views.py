from django.conf import settings
from django.core.validators import RegexValidator
from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import StrictIntegerField
from config.api.pagination import CursorPage
from gateways.base import get_gateway
from payments.models import PaymentEvent, Purpose
from payments.models import PaymentStatus as S
from payments.selectors import (
    payment_get_for_buyer,
    payment_list_for_buyer,
    payment_status_for_buyer,
)
from payments.services.checkout import (
    CheckoutLine,
    IdempotencyKey,
    payment_checkout,
    request_fingerprint,
)
from payments.services.confirm import payment_confirm
from payments.services.waiting import payment_wait_outcome
from payments.services.webhooks import webhook_accept

ORDER_ID = RegexValidator(r"^[A-Za-z0-9_-]{6,64}$", "6 to 64 characters of A-Z a-z 0-9 - _")
MAX_ID = 10**18 - 1
MAX_AMOUNT = 10**12


class LineSerializer(serializers.Serializer):
    productId = StrictIntegerField(min_value=1, max_value=MAX_ID)
    quantity = StrictIntegerField(min_value=1)

    def validate_quantity(self, value):
        if value > settings.CHECKOUT_MAX_QUANTITY:
            raise ValidationError(f"at most {settings.CHECKOUT_MAX_QUANTITY}")
        return value


class PaymentOutputSerializer(serializers.Serializer):
    orderId = serializers.CharField(source="order_id")
    status = serializers.CharField()
    amount = serializers.IntegerField(source="total_amount")
    gateway = serializers.CharField()
    purpose = serializers.CharField()
    paymentKey = serializers.CharField(source="payment_key")
    orderName = serializers.CharField(source="order_name")
    items = serializers.SerializerMethodField()
    canceledAmount = serializers.IntegerField(source="canceled_amount")
    approvedAt = serializers.DateTimeField(source="approved_at")
    failure = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_items(self, event):
        return [
            {"productId": line.product_id, "quantity": line.quantity, "amount": line.amount}
            for line in event.lines.all()
        ]

    def get_failure(self, event):
        if event.status != S.FAILURE:
            return None
        return {"code": event.failure_code, "message": event.failure_message}


class PaymentCheckoutApi(APIView):
    class InputSerializer(serializers.Serializer):
        gateway = serializers.CharField(max_length=20)
        purpose = serializers.ChoiceField(choices=Purpose.choices, default=Purpose.GOODS)
        items = LineSerializer(many=True, required=False)
        amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, required=False)

        def validate(self, data):
            if data["purpose"] == Purpose.GOODS:
                items = data.get("items") or []
                if not 1 <= len(items) <= settings.CHECKOUT_MAX_LINES:
                    raise ValidationError({"items": [f"1 to {settings.CHECKOUT_MAX_LINES} items"]})
                if "amount" in data:
                    raise ValidationError({"amount": ["the server prices goods; send items only"]})
            else:
                if "amount" not in data:
                    raise ValidationError({"amount": ["required for POINT_CHARGE"]})
                if data.get("items"):
                    raise ValidationError({"items": ["not allowed for POINT_CHARGE"]})
            return data

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        answer, _ = payment_checkout(
            buyer=request.user,
            gateway=body["gateway"],
            purpose=body["purpose"],
            lines=[CheckoutLine(i["productId"], i["quantity"]) for i in body.get("items", [])],
            amount=body.get("amount"),
            render=_checkout_answer,
            idempotency=_idempotency(request, body),
        )
        return Response(answer, status=status.HTTP_201_CREATED)


def _idempotency(request, body: dict) -> IdempotencyKey | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ValidationError({"Idempotency-Key": ["1 to 255 characters"]})
    return IdempotencyKey(key=key, request_hash=request_fingerprint(dict(body)))


def _checkout_answer(event: PaymentEvent) -> dict:
    return {
        "orderId": event.order_id,
        "orderName": event.order_name,
        "amount": event.total_amount,
        "gateway": event.gateway,
        "purpose": event.purpose,
        "status": event.status,
        **get_gateway(event.gateway).client_config(),
        "successUrl": settings.SHOP_SUCCESS_URL,
        "failUrl": settings.SHOP_FAIL_URL,
    }


def preferences(request) -> dict[str, str]:
    """RFC 7240 `Prefer` header as {name: value}, e.g. {"respond-async": "", "wait": "10"}."""
    found = {}
    for token in request.headers.get("Prefer", "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name:
            found[name.lower()] = value.strip().strip('"')
    return found


def wants_async(request) -> bool:
    """`Prefer: respond-async` asks for the asynchronous confirm; else CONFIRM_MODE decides."""
    return "respond-async" in preferences(request) or settings.CONFIRM_MODE == "async"


def preferred_wait(request) -> float:
    """`Prefer: wait=N`: hold the answer up to N seconds (at most PAYMENT_MAX_WAIT_SECONDS)
    for the outcome of a payment in progress; 0 when not asked or not a number."""
    try:
        wait = float(preferences(request).get("wait", 0))
    except ValueError:
        return 0.0
    return max(0.0, min(wait, settings.PAYMENT_MAX_WAIT_SECONDS))  # NaN ends as 0.0


class PaymentConfirmApi(APIView):
    class InputSerializer(serializers.Serializer):
        orderId = serializers.CharField(max_length=64, validators=[ORDER_ID])
        paymentKey = serializers.CharField(max_length=200)
        amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        respond_async = wants_async(request)
        event = payment_confirm(
            buyer=request.user,
            order_id=data.validated_data["orderId"],
            payment_key=data.validated_data["paymentKey"],
            amount=data.validated_data["amount"],
            respond_async=respond_async,
        )
        if event.status in (S.EXECUTING, S.UNKNOWN, S.NEEDS_ATTENTION):
            headers = {"Location": f"/api/v1/payments/{event.order_id}"}
            if respond_async:
                headers["Preference-Applied"] = "respond-async"
            return Response(
                {"orderId": event.order_id, "status": event.status},
                status=status.HTTP_202_ACCEPTED,
                headers=headers,
            )
        return Response(
            {
                "orderId": event.order_id,
                "status": event.status,
                "amount": event.total_amount,
                "paymentKey": event.payment_key,
                "approvedAt": serializers.DateTimeField().to_representation(event.approved_at),
            }
        )


class PaymentDetailApi(APIView):
    class OutputSerializer(PaymentOutputSerializer):
        history = serializers.SerializerMethodField()

        def get_history(self, event):
            return [
                {
                    "from": h.from_status or None,
                    "to": h.to_status,
                    "reason": h.reason,
                    "at": serializers.DateTimeField().to_representation(h.created_at),
                }
                for h in event.history.all()
            ]

    def get(self, request, order_id: str):
        wait = preferred_wait(request)
        if wait:  # wait on the status alone; lines and history are read once, at the end
            event_id, status = payment_status_for_buyer(buyer=request.user, order_id=order_id)
            if status in (S.EXECUTING, S.UNKNOWN):
                payment_wait_outcome(event_id=event_id, timeout=wait)
        event = payment_get_for_buyer(buyer=request.user, order_id=order_id)
        if event is None:
            raise NotFound(f"No payment {order_id} for this member.")
        return Response(self.OutputSerializer(event).data)


class PaymentListApi(APIView):
    def get(self, request):
        paginator = CursorPage()
        page = paginator.paginate_queryset(
            payment_list_for_buyer(buyer=request.user), request, view=self
        )
        return paginator.get_paginated_response(PaymentOutputSerializer(page, many=True).data)


class WebhookApi(APIView):
    """A PG's notification: stored, answered at once, processed by a worker."""

    authentication_classes = []  # PGs do not log in; the PG's own record is the proof
    permission_classes = [AllowAny]
    throttle_classes = []

    def post(self, request, gateway):
        body, content_type = webhook_accept(gateway=gateway, body=request.body)
        return HttpResponse(body, content_type=content_type)

"""The payments API: one small APIView per operation, each with its own serializers,
calling one service or selector. HTTP stays here; the services know nothing of it."""

from django.conf import settings
from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import CursorPage
from config.api.prefer import preferred_wait, prefers_async
from config.errors import DomainError
from payments.api.idempotency import idempotency_key
from payments.inputs import CancelInput, CheckoutInput, ConfirmInput, validated
from payments.models import Method
from payments.models import PaymentStatus as S
from payments.selectors import (
    payment_detail_of,
    payment_get_for_buyer,
    payment_list_for_buyer,
    payment_status_for_buyer,
)
from payments.services.cancel import payment_cancel
from payments.services.checkout import payment_checkout
from payments.services.confirm import UNSETTLED, payment_confirm, payment_confirm_async
from payments.services.waiting import payment_wait_outcome, payment_wait_slot
from payments.services.webhooks import webhook_accept


class PaymentOutputSerializer(serializers.Serializer):
    orderId = serializers.CharField(source="order_id")
    status = serializers.CharField()
    amount = serializers.IntegerField(source="total_amount")
    gateway = serializers.CharField()
    purpose = serializers.CharField()
    paymentKey = serializers.CharField(source="payment_key")
    orderName = serializers.CharField(source="order_name")
    items = serializers.SerializerMethodField()
    pointsUsed = serializers.IntegerField(source="points_used")
    canceledAmount = serializers.IntegerField(source="canceled_amount")
    approvedAt = serializers.DateTimeField(source="approved_at")
    failure = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    method = serializers.SerializerMethodField()
    receipt = serializers.SerializerMethodField()
    virtualAccount = serializers.SerializerMethodField()

    def get_method(self, event) -> str:
        """How it was paid, as the PG says; until it has said, what the buyer asked for."""
        detail = payment_detail_of(event)
        return (detail.method if detail else "") or event.method

    def get_receipt(self, event):
        detail = payment_detail_of(event)
        if detail is None or (detail.method == Method.VIRTUAL_ACCOUNT and not detail.receipt_url):
            return None  # an account not paid in yet has no receipt
        cash = None
        if detail.cash_receipt_type or detail.cash_receipt_url:
            cash = {
                "type": detail.cash_receipt_type or None,
                "url": detail.cash_receipt_url or None,
                "issueNumber": detail.cash_receipt_number or None,
            }
        return {
            "cardCompany": detail.card_company or None,
            "cardNumber": detail.card_number or None,  # masked by the PG
            "cardType": detail.card_type or None,
            "installmentMonths": detail.installment_months,
            "approvalNumber": detail.approval_number or None,
            "easyPayProvider": detail.easy_pay_provider or None,
            "url": detail.receipt_url or None,
            "cashReceipt": cash,
        }

    def get_virtualAccount(self, event):
        detail = payment_detail_of(event)
        if detail is None or not detail.account_number:
            return None
        return {
            "bank": detail.bank_name or detail.bank_code,
            "bankCode": detail.bank_code,
            "accountNumber": detail.account_number,
            "holder": detail.account_holder or None,
            "dueDate": serializers.DateTimeField().to_representation(detail.due_at)
            if detail.due_at
            else None,
        }

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
    InputSerializer = CheckoutInput

    class OutputSerializer(serializers.Serializer):
        """The new payment, and what the frontend needs to open the PG's window."""

        orderId = serializers.CharField(source="order_id")
        orderName = serializers.CharField(source="order_name")
        amount = serializers.IntegerField(source="total_amount")
        pointsUsed = serializers.IntegerField(source="points_used")
        gateway = serializers.CharField()
        purpose = serializers.CharField()
        method = serializers.CharField()
        status = serializers.CharField()

        @classmethod
        def render(cls, event, pg_config: dict) -> dict:
            urls = {"successUrl": settings.SHOP_SUCCESS_URL, "failUrl": settings.SHOP_FAIL_URL}
            return {**cls(event).data, **pg_config, **urls}

    def post(self, request):
        body = validated(self.InputSerializer, request.data)
        answer, _ = payment_checkout(
            buyer=request.user,
            gateway=body["gateway"],
            purpose=body["purpose"],
            lines=[(item["productId"], item["quantity"]) for item in body.get("items", [])],
            amount=body.get("amount"),
            points_to_use=body["pointsToUse"],
            method=body["method"],
            render=self.OutputSerializer.render,
            idempotency=idempotency_key(request, body),
        )
        return Response(answer, status=status.HTTP_201_CREATED)


class PaymentConfirmApi(APIView):
    InputSerializer = ConfirmInput

    class OutputSerializer(serializers.Serializer):
        """200: the outcome is known."""

        orderId = serializers.CharField(source="order_id")
        status = serializers.CharField()
        amount = serializers.IntegerField(source="total_amount")
        paymentKey = serializers.CharField(source="payment_key")
        approvedAt = serializers.DateTimeField(source="approved_at")
        # AWAITING_DEPOSIT: where and until when the buyer pays in (null otherwise).
        virtualAccount = serializers.SerializerMethodField()

        def get_virtualAccount(self, event):
            return PaymentOutputSerializer().get_virtualAccount(event)

    class InProgressSerializer(serializers.Serializer):
        """202: not known yet; GET the payment (with `Prefer: wait=N`) for it."""

        orderId = serializers.CharField(source="order_id")
        status = serializers.CharField()

    def post(self, request):
        body = validated(self.InputSerializer, request.data)
        respond_async = prefers_async(request) or settings.CONFIRM_MODE == "async"
        confirm = payment_confirm_async if respond_async else payment_confirm
        event = confirm(
            buyer=request.user,
            order_id=body["orderId"],
            payment_key=body["paymentKey"],
            amount=body["amount"],
        )
        if event.status not in UNSETTLED:
            return Response(self.OutputSerializer(event).data)
        headers = {"Location": f"/api/v1/payments/{event.order_id}"}
        if respond_async:
            headers["Preference-Applied"] = "respond-async"
        data = self.InProgressSerializer(event).data
        return Response(data, status=status.HTTP_202_ACCEPTED, headers=headers)


class PaymentCancelApi(APIView):
    """200: refunded (or, unpaid, cancelled); 202: the PG's answer is not known yet (GET
    the payment: its refunds say how it ends)."""

    InputSerializer = CancelInput

    def post(self, request, order_id):
        body = validated(self.InputSerializer, request.data)
        items = body.get("items")
        answer, pending = payment_cancel(
            buyer=request.user,
            order_id=order_id,
            reason=body["reason"],
            items=[(i["productId"], i["quantity"]) for i in items] if items else None,
            amount=body.get("amount"),
            refund_account=body.get("refundReceiveAccount"),
            # The orderId is in the path: part of what a key's repeat must match.
            idempotency=idempotency_key(request, {**body, "orderId": order_id}),
        )
        return Response(answer, status=status.HTTP_202_ACCEPTED if pending else status.HTTP_200_OK)


class PaymentDetailApi(APIView):
    class OutputSerializer(PaymentOutputSerializer):
        history = serializers.SerializerMethodField()
        pointsRefunded = serializers.IntegerField(source="points_refunded")
        balanceAmount = serializers.SerializerMethodField()
        refunds = serializers.SerializerMethodField()

        def get_balanceAmount(self, event) -> int:
            return event.total_amount - event.canceled_amount

        def get_refunds(self, event):
            at = serializers.DateTimeField().to_representation
            return [
                {
                    "id": refund.pk,
                    "amount": refund.amount,
                    "pgAmount": refund.pg_amount,
                    "pointsAmount": refund.points_amount,
                    "status": refund.status,
                    "reason": refund.reason,
                    "items": [
                        {"productId": share.line.product_id, "quantity": share.quantity}
                        for share in refund.lines.all()
                        if share.quantity
                    ],
                    "at": at(refund.created_at),
                }
                for refund in event.refunds.all()
            ]

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
        wait = preferred_wait(request, at_most=settings.PAYMENT_MAX_WAIT_SECONDS)
        if wait:  # wait on the status alone; lines and history are read once, at the end
            event_id, current = payment_status_for_buyer(buyer=request.user, order_id=order_id)
            if current in (S.EXECUTING, S.UNKNOWN):
                with payment_wait_slot(member_id=request.user.pk, timeout=wait) as allowed:
                    if allowed:
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
        # A body with no Content-Length (chunked) is read no further than the limit.
        body = request.stream.read(settings.WEBHOOK_MAX_BODY_BYTES + 1) if request.stream else b""
        if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
            raise DomainError(
                "PAYLOAD_TOO_LARGE", f"A notice is at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes."
            )
        body, content_type = webhook_accept(gateway=gateway, body=body)
        return HttpResponse(body, content_type=content_type)

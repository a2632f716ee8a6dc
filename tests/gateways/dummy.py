"""A PG that lives in memory: proof that adding a gateway needs no change under payments/."""

from datetime import UTC, datetime

from gateways import errors
from gateways.base import PaymentGateway
from gateways.types import CancelRequest, ConfirmRequest, GatewayPayment, PgStatus

APPROVED: dict[str, GatewayPayment] = {}


class DummyGateway(PaymentGateway):
    def confirm(self, request: ConfirmRequest) -> GatewayPayment:
        if request.payment_key.startswith("decline"):
            raise errors.Rejected(
                "no", gateway=self.code, operation="confirm", code="DUMMY_DECLINE"
            )
        payment = GatewayPayment(
            gateway=self.code,
            order_id=request.order_id,
            payment_key=request.payment_key,
            status=PgStatus.APPROVED,
            raw_status="OK",
            total_amount=request.amount,
            balance_amount=request.amount,
            approved_at=datetime.now(UTC),
        )
        APPROVED[request.order_id] = payment
        return payment

    def cancel(self, request: CancelRequest) -> GatewayPayment:
        raise errors.Rejected("not supported", gateway=self.code, operation="cancel", code="DUMMY")

    def get_payment(self, payment_key: str) -> GatewayPayment:
        for payment in APPROVED.values():
            if payment.payment_key == payment_key:
                return payment
        raise errors.PaymentNotFound(gateway=self.code, operation="lookup", code="DUMMY_NONE")

    def get_payment_by_order_id(self, order_id: str) -> GatewayPayment:
        if order_id not in APPROVED:
            raise errors.PaymentNotFound(gateway=self.code, operation="lookup", code="DUMMY_NONE")
        return APPROVED[order_id]

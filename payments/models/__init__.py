"""The payments app's models: a payment and what hangs off it (payment.py), its refunds
(refund.py), what the PG says about how it was paid (details.py), reconciliation runs
and their differences (reconciliation.py). Status changes happen only through
payments.states (a payment's) and payments.services.refund_states (a refund's); never
save() a status."""

from payments.models.details import Method, PaymentDetail
from payments.models.health import GatewayHealth, GatewayState
from payments.models.payment import (
    CompensationJob,
    IdempotencyRecord,
    OutboxMessage,
    PaymentEvent,
    PaymentHistory,
    PaymentOrder,
    PaymentStatus,
    Purpose,
    WebhookEvent,
    generation_key,
    history_row,
)
from payments.models.reconciliation import (
    Discrepancy,
    DiscrepancyKind,
    DiscrepancyStatus,
    ReconciliationRun,
    RunStatus,
)
from payments.models.refund import Refund, RefundHistory, RefundLine, RefundStatus

__all__ = [
    "CompensationJob",
    "Discrepancy",
    "DiscrepancyKind",
    "DiscrepancyStatus",
    "GatewayHealth",
    "GatewayState",
    "IdempotencyRecord",
    "Method",
    "OutboxMessage",
    "PaymentDetail",
    "PaymentEvent",
    "PaymentHistory",
    "PaymentOrder",
    "PaymentStatus",
    "Purpose",
    "ReconciliationRun",
    "Refund",
    "RefundHistory",
    "RefundLine",
    "RefundStatus",
    "RunStatus",
    "WebhookEvent",
    "generation_key",
    "history_row",
]

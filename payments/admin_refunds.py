"""The refunds' admin pages: the list, whose NEEDS_ATTENTION filter is the operators' queue
of refunds nobody knows to have happened, and a refund's page with its lines and history.

Read-only for everybody, like the payments' pages: a refund's status and amounts change
only through payments.refund_states and payments.services.refund_settle. A payment's
own page shows its refunds too (payments/admin.py, PAYMENT_INLINES), which also imports
this module, since Django's autodiscovery imports only payments/admin.py.
"""

from django.contrib import admin

from config.admin_readonly import ReadOnlyInline, ReadOnlyMixin
from payments.models import Refund, RefundHistory, RefundLine


class RefundLineInline(ReadOnlyInline):
    model = RefundLine
    fields = ["line", "quantity", "amount", "commission"]
    verbose_name_plural = "lines (the money given back per payment line, the units restocked)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("line")  # shown by name, per row


class RefundHistoryInline(ReadOnlyInline):
    model = RefundHistory
    fk_name = "refund"
    fields = ["created_at", "from_status", "to_status", "reason", "actor", "pg_code", "pg_message"]
    verbose_name_plural = "history (every status change, oldest first)"
    ordering = ["id"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "order",
        "status",
        "amount",
        "pg_amount",
        "points_amount",
        "actor",
        "retry_count",
        "failure_code",
    ]
    list_filter = ["status", "actor", ("created_at", admin.DateFieldListFilter)]
    # The payment's orderId, exact (indexed), as on the other lists of a payment's rows.
    search_fields = ["=event__order_id"]
    search_help_text = "exact orderId"
    list_select_related = ["event"]
    show_full_result_count = False  # no COUNT(*) over every refund on every page
    ordering = ["-id"]
    inlines = [RefundLineInline, RefundHistoryInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("event", "status"),
                    ("amount", "pg_amount", "points_amount", "restock"),
                    ("reason", "actor"),
                    ("pg_idempotency_key", "pg_transaction_key", "pg_balance_before"),
                    ("failure_code", "failure_message"),
                ]
            },
        ),
        (
            "Recovery",
            {
                "fields": [
                    ("retry_count", "next_attempt_at"),
                    ("lease_owner", "lease_until"),
                    ("created_at", "updated_at", "completed_at"),
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Refund._meta.fields] + ["amount"]

    @admin.display(description="order", ordering="event__order_id")
    def order(self, obj):
        return obj.event.order_id

    @admin.display(description="amount (PG + points)")
    def amount(self, obj):
        return obj.amount

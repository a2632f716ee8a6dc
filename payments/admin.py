"""The operators' view of payments: read-only pages plus three audited actions.

Nothing that holds money or status is editable here, for anybody: status changes only
through payments.states. The actions (re-check with the PG, resolve NEEDS_ATTENTION as
failed, retry the stock restore) call services, need their own permission (the "payment
operators" group has them, "payment viewers" do not), and leave a PaymentHistory row with
the operator's name plus an entry in Django's admin log.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from config.admin_readonly import ReadOnlyInline, ReadOnlyMixin
from ledger.selectors import entries_for_reference

# The refunds' own pages and the refund form live in their own module (this one stays
# under 400 lines), as do the reconciliation's runs and discrepancies; Django
# autodiscovers only payments/admin.py, so importing them here is also what registers
# them.
from payments import admin_reconciliation  # noqa: F401
from payments.admin_refunds import refund_view
from payments.models import (
    CompensationJob,
    OutboxMessage,
    PaymentEvent,
    PaymentHistory,
    PaymentOrder,
    PaymentStatus,
    Refund,
    RefundHistory,
    WebhookEvent,
)
from payments.selectors import (
    payment_detail_of,
    payment_finished_recently,
    payment_operations_summary,
)
from payments.services.operator import (
    compensation_operator_retry,
    payment_operator_recheck,
    payment_operator_resolve_failed,
)
from payments.services.refund_account import refund_waiting_for_account
from payments.services.refund_request import REFUNDABLE
from payments.services.relay import relay_retry_parked

# action name -> (permission codename, service, label). The list's bulk actions and the
# detail page's buttons both run these.
OPERATIONS = {
    "recheck": ("recheck_paymentevent", payment_operator_recheck, "Re-check with the PG now"),
    "resolve_failed": (
        "resolve_paymentevent",
        payment_operator_resolve_failed,
        "Resolve NEEDS_ATTENTION as failed (after a PG re-check)",
    ),
    "retry_compensation": (
        "retry_compensation",
        compensation_operator_retry,
        "Retry the stock restore",
    ),
}


def operations_index_context(request) -> dict:
    """The admin index's payment numbers (settings.ADMIN_INDEX_CONTEXT), for those who may
    see payments."""
    if not request.user.has_perm("payments.view_paymentevent"):
        return {}
    summary = payment_operations_summary()
    summary["finished_last_hour"] = payment_finished_recently(hours=1)
    summary["stuck_minutes"] = settings.PAYMENT_STUCK_SECONDS // 60
    return {"operations": summary}


def _inline(
    model,
    fields: list[str],
    title: str,
    ordering: list[str] | None = None,
    *,
    related: list[str] | None = None,
    **displays,
):
    """A read-only table of one kind of a payment's rows, on the payment's page. `related`
    are the foreign keys it shows, fetched with the rows rather than one query each;
    `displays` are columns computed from a row (name -> function of the inline and row)."""
    attrs = {"model": model, "fields": fields, "verbose_name_plural": title, **displays}
    if ordering:
        attrs["ordering"] = ordering
    if related:

        def get_queryset(self, request):
            return ReadOnlyInline.get_queryset(self, request).select_related(*related)

        attrs["get_queryset"] = get_queryset
    return type(f"{model.__name__}Inline", (ReadOnlyInline,), attrs)


@admin.display(description="ID")
def _refund_number(inline, refund):
    """A refund's id as a column: a column named "id" is the inline form's hidden key."""
    return refund.pk


PAYMENT_INLINES = [
    _inline(
        PaymentOrder,
        ["product", "seller", "quantity", "amount", "commission", "canceled_quantity"],
        "lines",
    ),
    _inline(
        PaymentHistory,
        ["created_at", "from_status", "to_status", "reason", "actor", "pg_code", "pg_message"],
        "history (every status change, oldest first)",
        ["id"],
    ),
    _inline(
        CompensationJob,
        ["status", "restored", "attempts", "last_error", "created_at", "completed_at"],
        "stock restore",
    ),
    _inline(
        OutboxMessage,
        ["kind", "status", "attempts", "last_error", "created_at", "processed_at"],
        "outbox (work owed after the commit: the booking, an async confirm)",
    ),
    _inline(
        WebhookEvent,
        ["received_at", "event_type", "pg_status", "status", "note", "processed_at"],
        "webhook events",
        ["id"],
    ),
    _inline(
        Refund,
        [
            "refund_number",
            "status",
            "pg_amount",
            "points_amount",
            "reason",
            "actor",
            "failure_code",
            "retry_count",
            "created_at",
            "completed_at",
        ],
        "refunds",
        ["id"],
        refund_number=_refund_number,
    ),
    _inline(
        RefundHistory,
        [
            "created_at",
            "refund",
            "from_status",
            "to_status",
            "reason",
            "actor",
            "pg_code",
            "pg_message",
        ],
        "refund history (every refund's status changes, oldest first)",
        ["id"],
        related=["refund"],
    ),
]


def _applies(name: str, event: PaymentEvent | None) -> bool:
    """Whether the detail page offers the button (the services refuse the rest anyway)."""
    if event is None:
        return False
    if name == "resolve_failed":
        return event.status == PaymentStatus.NEEDS_ATTENTION
    if name == "retry_compensation":
        return CompensationJob.objects.filter(
            event=event, status=CompensationJob.Status.PROCESSING
        ).exists()
    return True


def _run(admin_view, request, event: PaymentEvent, name: str) -> None:
    """Run one operation on one payment, tell the operator, and log it in the admin log."""
    _, service, label = OPERATIONS[name]
    result = service(event_id=event.pk, operator=request.user.get_username())
    admin_view.log_change(request, event, f"{label}: {result.message}")
    level = messages.SUCCESS if result.ok else messages.WARNING
    admin_view.message_user(request, f"{event.order_id}: {result.message}", level)


def _bulk(name: str):
    codename, _, label = OPERATIONS[name]

    def action(modeladmin, request, queryset):
        limit = PaymentEventAdmin.MAX_BULK
        for event in queryset.order_by("id")[:limit]:
            _run(modeladmin, request, event, name)
        if queryset.count() > limit:
            modeladmin.message_user(
                request,
                f"Only the first {limit} selected payments were handled; select the rest again.",
                messages.WARNING,
            )

    action.__name__ = name
    return admin.action(description=label, permissions=[codename.split("_")[0]])(action)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    MAX_BULK = 50  # each one asks the PG; a bigger batch belongs to recover_payments
    list_display = [
        "order_id",
        "buyer_email",
        "gateway",
        "total_amount",
        "status",
        "retry_count",
        "updated_at",
    ]
    list_filter = ["status", "gateway", "purpose", ("created_at", admin.DateFieldListFilter)]
    # orderId and paymentKey are exact (indexed); the buyer's email matches a part.
    search_fields = ["=order_id", "=payment_key", "buyer__email"]
    search_help_text = "exact orderId or paymentKey, or part of the buyer's email"
    list_select_related = ["buyer"]
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    ordering = ["-id"]
    inlines = PAYMENT_INLINES
    actions = [_bulk(name) for name in OPERATIONS]
    change_form_template = "admin/payments/paymentevent/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("order_id", "status"),
                    ("buyer", "gateway", "purpose"),
                    ("order_name", "total_amount", "canceled_amount"),
                    ("payment_key", "approved_at"),
                    ("failure_code", "failure_message"),
                ]
            },
        ),
        ("결제 수단 (how it was paid)", {"fields": [("method", "deposit_due_at"), "paid_with"]}),
        (
            "Recovery",
            {
                "fields": [
                    ("retry_count", "next_attempt_at"),
                    ("lease_owner", "lease_until"),
                    ("is_payment_done", "created_at", "updated_at"),
                ]
            },
        ),
        ("Books", {"fields": ["points_used", "journal"]}),
    ]

    @admin.display(description="buyer", ordering="buyer__email")
    def buyer_email(self, obj):
        return obj.buyer.email

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in PaymentEvent._meta.fields] + ["journal", "paid_with"]

    @admin.display(description="what the PG says")
    def paid_with(self, obj):
        """The PG's own word on how the buyer paid (masked by the PG; no secret is kept)."""
        detail = payment_detail_of(obj)
        if detail is None:
            return "nothing yet (the PG tells it with the approval or the account's issue)"
        rows = [
            (label, value)
            for label, value in [
                ("수단", detail.get_method_display()),
                ("카드사", detail.card_company),
                ("카드 번호", detail.card_number),
                ("카드 종류", detail.card_type),
                ("할부", f"{detail.installment_months}개월" if detail.installment_months else ""),
                ("승인 번호", detail.approval_number),
                ("간편결제", detail.easy_pay_provider),
                ("가상계좌 은행", detail.bank_name or detail.bank_code),
                ("가상계좌 번호", detail.account_number),
                ("예금주", detail.account_holder),
                ("입금 기한", detail.due_at.isoformat() if detail.due_at else ""),
                ("현금영수증", detail.cash_receipt_type),
                ("영수증", detail.receipt_url),
            ]
            if value
        ]
        return format_html(
            '<table class="paid-with">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="journal entries")
    def journal(self, obj):
        """The payment's entries in the books (reference: its orderId), with their postings."""
        entries = entries_for_reference(reference=obj.order_id)
        rows = [
            (entry.pk, entry.kind, posting.account.code, posting.amount)
            for entry in entries
            for posting in entry.postings.all()
        ]
        if not rows:
            return "none yet (the relay books a SUCCESS within seconds)"
        url = reverse("admin:ledger_journalentry_changelist")
        return format_html(
            '<table class="journal"><tr><th>entry</th><th>kind</th><th>account</th>'
            '<th>amount (debit +)</th></tr>{}</table><a href="{}?q={}">open in the books</a>',
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            url,
            obj.order_id,
        )

    def has_recheck_permission(self, request):
        return request.user.has_perm("payments.recheck_paymentevent")

    def has_resolve_permission(self, request):
        return request.user.has_perm("payments.resolve_paymentevent")

    def has_retry_permission(self, request):
        return request.user.has_perm("payments.retry_compensation")

    def get_urls(self):
        operate = self.admin_site.admin_view(self.operate_view)
        refund = self.admin_site.admin_view(self.refund_view)
        extra = [
            path(
                "<path:object_id>/operate/<str:name>/",
                operate,
                name="payments_paymentevent_operate",
            ),
            path("<path:object_id>/refund/", refund, name="payments_paymentevent_refund"),
        ]
        return extra + super().get_urls()

    def refund_view(self, request, object_id):
        return refund_view(self, request, object_id)

    def operate_view(self, request, object_id, name):
        """The detail page's buttons: POST only, permission checked, then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if name not in OPERATIONS:
            raise PermissionDenied
        if not request.user.has_perm(f"payments.{OPERATIONS[name][0]}"):
            raise PermissionDenied
        event = self.get_object(request, object_id)  # None for a malformed or unknown id
        if event is None:
            raise Http404("no such payment")
        _run(self, request, event, name)
        return HttpResponseRedirect(reverse("admin:payments_paymentevent_change", args=[event.pk]))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["operations"] = [
            {"name": name, "label": label}
            for name, (codename, _, label) in OPERATIONS.items()
            if request.user.has_perm(f"payments.{codename}") and _applies(name, obj)
        ]
        context["can_refund"] = obj is not None and (
            request.user.has_perm("payments.refund_paymentevent")
            and (obj.status in REFUNDABLE or refund_waiting_for_account(obj) is not None)
        )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


class PaymentRowAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only lists of rows that belong to a payment, found by its exact orderId."""

    search_fields = ["=event__order_id"]
    list_select_related = ["event"]
    show_full_result_count = False
    ordering = ["-id"]

    @admin.display(description="order", ordering="event__order_id")
    def order(self, obj):
        return obj.event.order_id


@admin.register(PaymentHistory)
class PaymentHistoryAdmin(PaymentRowAdmin):
    list_display = ["created_at", "order", "from_status", "to_status", "reason", "actor", "pg_code"]
    list_filter = ["to_status", "reason", "actor", ("created_at", admin.DateFieldListFilter)]


@admin.register(CompensationJob)
class CompensationJobAdmin(PaymentRowAdmin):
    list_display = ["order", "status", "restored", "attempts", "last_error", "created_at"]
    list_filter = ["status", "restored", ("created_at", admin.DateFieldListFilter)]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "gateway", "event_type", "order_id", "pg_status", "status"]
    list_filter = ["gateway", "status", "pg_status", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=order_id"]
    show_full_result_count = False
    ordering = ["-id"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(PaymentRowAdmin):
    """Work owed after a commit. A PARKED row failed OUTBOX_MAX_ATTEMPTS times and waits
    here (and in the OutboxParked alert) for an operator to fix the cause and retry it."""

    list_display = [
        "created_at",
        "order",
        "kind",
        "status",
        "attempts",
        "available_at",
        "last_error",
    ]
    list_filter = ["status", "kind", ("created_at", admin.DateFieldListFilter)]
    actions = ["retry_parked"]

    def has_retry_permission(self, request):
        return request.user.has_perm("payments.retry_outboxmessage")

    @admin.action(description="Retry the selected parked rows", permissions=["retry"])
    def retry_parked(self, request, queryset):
        retried = 0
        for message in queryset.filter(status=OutboxMessage.Status.PARKED).order_by("id")[:500]:
            if relay_retry_parked(message_id=message.pk):
                retried += 1
                self.log_change(request, message, "Retried: PARKED back to PENDING")
        self.message_user(
            request, f"{retried} parked row(s) back to PENDING; the relay takes them next."
        )

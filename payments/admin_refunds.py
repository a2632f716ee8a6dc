"""The refunds' admin pages: the list, whose NEEDS_ATTENTION filter is the operators' queue
of refunds nobody knows to have happened, a refund's page with its lines and history,
and the payment page's refund form (refund_view, for the "payment operators" group).

Read-only for everybody, like the payments' pages: a refund's status and amounts change
only through payments.refund_states and payments.services.refund_settle. A payment's
own page shows its refunds too (payments/admin.py, PAYMENT_INLINES), which also imports
this module, since Django's autodiscovery imports only payments/admin.py.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework.exceptions import ValidationError

from config.admin_readonly import ReadOnlyInline, ReadOnlyMixin
from payments.inputs import CancelInput, form_integer, validated
from payments.models import Refund, RefundHistory, RefundLine
from payments.selectors import paid_by_virtual_account
from payments.services.operator import payment_operator_refund
from payments.services.pg import pg_refund_banks
from payments.services.refund_account import refund_waiting_for_account
from payments.services.refund_recovery import refund_operator_recheck


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
    actions = ["recheck"]

    def has_refund_permission(self, request):
        return request.user.has_perm("payments.refund_paymentevent")

    @admin.action(description="Re-check the selected refunds with the PG", permissions=["refund"])
    def recheck(self, request, queryset):
        """For refunds that need attention: found at the PG, they are recorded; not there,
        sent again; each result in the refund's history and the admin log."""
        for refund in queryset.filter(status="NEEDS_ATTENTION").order_by("id")[:50]:
            operator = request.user.get_username()
            said = refund_operator_recheck(refund_id=refund.pk, operator=operator)
            self.log_change(request, refund, f"Re-checked with the PG: {said}")
            self.message_user(request, f"refund {refund.pk}: {said}")

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


def refund_view(model_admin, request, object_id):
    """The payment page's "Refund" form: units per line, an amount, or everything left,
    and a reason; checked by the same CancelInput as the API's cancel, run by the same
    refund service, audited in the refund's history and the admin log."""
    if not request.user.has_perm("payments.refund_paymentevent"):
        raise PermissionDenied
    event = model_admin.get_object(request, object_id)
    if event is None:
        raise Http404("no such payment")
    lines = list(event.lines.select_related("product").order_by("id"))
    problem = ""
    if request.method == "POST":
        try:
            body = validated(CancelInput, _cancel_body(request.POST, lines))
        except ValidationError as exc:
            problem = f"Not refunded: {exc.detail}"
        else:
            items = body.get("items")
            result = payment_operator_refund(
                event_id=event.pk,
                operator=request.user.get_username(),
                reason=body["reason"],
                items=[(i["productId"], i["quantity"]) for i in items] if items else None,
                amount=body.get("amount"),
                refund_account=body.get("refundReceiveAccount"),
            )
            model_admin.log_change(request, event, f"Refund: {result.message}")
            level = messages.SUCCESS if result.ok else messages.WARNING
            model_admin.message_user(request, f"{event.order_id}: {result.message}", level)
            return HttpResponseRedirect(
                reverse("admin:payments_paymentevent_change", args=[event.pk])
            )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Refund {event.order_id}",
        "opts": model_admin.model._meta,
        "original": event,
        "lines": [
            {
                "line": line,
                "left": line.quantity - line.canceled_quantity - line.refund_reserved_quantity,
                "money_left": line.amount - line.refund_claimed_amount,
            }
            for line in lines
        ],
        "problem": problem,
        "virtual_account": paid_by_virtual_account(event),
        # A late deposit's refund, made by the system, waits for the buyer's bank account:
        # the form then asks for that alone.
        "waiting": refund_waiting_for_account(event),
        "banks": pg_refund_banks(),
    }
    template = "admin/payments/paymentevent/refund.html"
    return TemplateResponse(request, template, context, status=400 if problem else 200)


def _cancel_body(form, lines) -> dict:
    """The form as the API's cancel body: `mode` items, amount or all."""
    body = {"reason": form.get("reason") or "운영자 환불"}
    if form.get("mode") == "items":
        body["items"] = [
            {"productId": line.product_id, "quantity": form_integer(form.get(f"qty_{line.pk}"))}
            for line in lines
            if line.product_id and form.get(f"qty_{line.pk}") not in (None, "", "0")
        ]
    elif form.get("mode") == "amount":
        body["amount"] = form_integer(form.get("amount"))
    account = {
        "bank": form.get("refund_bank", "").strip(),
        "accountNumber": form.get("refund_account_number", "").strip(),
        "holderName": form.get("refund_holder", "").strip(),
    }
    if any(account.values()):  # a paid virtual account's: the buyer's bank account
        body["refundReceiveAccount"] = account
    return body

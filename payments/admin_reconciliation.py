"""The reconciliation's admin pages: each gateway's day as reconciled (the runs, with their
counts and totals) and what the runs found different (the discrepancies), with the two
things an operator does about an OPEN one: look at the PG again, or close it with a note
(payments.services.reconcile_operator). Money moves only through the payment's own
Refund… form (admin_refunds.refund_view), which a discrepancy's page links to; nothing
here refunds.

Read-only for everybody, like the payments' pages. The actions need
payments.resolve_discrepancy (refused otherwise: hidden from the list, 403 on their
pages), speak Korean to the operator, and leave an entry in Django's admin log besides
what the services record (the payment's history for a re-check; resolved_by, resolved_at
and the resolution for a resolve). Django autodiscovers only payments/admin.py, which
imports this module so that these register.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, F, Q, Value, When
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin_readonly import ReadOnlyMixin
from payments.models import Discrepancy, DiscrepancyStatus, ReconciliationRun
from payments.services.reconcile_operator import (
    MAX_NOTE,
    discrepancy_recheck,
    discrepancy_resolve,
)
from payments.services.refund_request import REFUNDABLE

RESOLVE_PERMISSION = "payments.resolve_discrepancy"
REFUND_PERMISSION = "payments.refund_paymentevent"
DISCREPANCIES = "admin:payments_discrepancy_changelist"
OPEN = DiscrepancyStatus.OPEN
FIXED = DiscrepancyStatus.FIXED


def _discrepancies_link(run_id: int, text, status: str | None = None):
    """A link to the discrepancy list of one run (of one status)."""
    query = f"run__id__exact={run_id}" + (f"&status__exact={status}" if status else "")
    return format_html('<a href="{}?{}">{}</a>', reverse(DISCREPANCIES), query, text)


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A gateway's day: how many of the PG's records matched ours, what was fixed and what
    is still open, and the settlement: fees, the payout the PG reports and the one its
    records would give if they were ours (a difference is money to look into)."""

    list_display = [
        "day",
        "gateway",
        "status",
        "records",
        "matched",
        "fixed_count",
        "open_count",
        "fee",
        "payout",
        "expected_payout",
        "payout_date",
        "payout_difference",
        "fees_booked",
        "payout_booked",
    ]
    list_filter = ["gateway", "status", ("day", admin.DateFieldListFilter)]
    date_hierarchy = "day"
    ordering = ["-day", "gateway"]
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("gateway", "day", "status"),
                    ("source", "times_run"),
                    ("started_at", "finished_at"),
                    "error",
                ]
            },
        ),
        (
            "거래대사 (the PG's records against ours)",
            {"fields": [("records", "matched"), ("fixed_count", "open_count"), "discrepancies"]},
        ),
        (
            "정산대사 (the settlement)",
            {
                "fields": [
                    ("pg_amount", "fee"),
                    ("payout", "expected_payout", "payout_difference"),
                    "payout_date",
                    ("fees_booked", "payout_booked"),
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        # The counts in the same query as the runs (a handful of discrepancies per run).
        return (
            super()
            .get_queryset(request)
            .annotate(
                fixed_n=Count("found", filter=Q(found__status=FIXED)),
                open_n=Count("found", filter=Q(found__status=OPEN)),
                difference=F("payout") - F("expected_payout"),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        shown = ["fixed_count", "open_count", "payout_difference", "discrepancies"]
        return [f.name for f in ReconciliationRun._meta.fields] + shown

    @admin.display(description="fixed (자동 수정)", ordering="fixed_n")
    def fixed_count(self, obj):
        return _discrepancies_link(obj.pk, obj.fixed_n, FIXED) if obj.fixed_n else 0

    @admin.display(description="open (미해결)", ordering="open_n")
    def open_count(self, obj):
        return _discrepancies_link(obj.pk, obj.open_n, OPEN) if obj.open_n else 0

    @admin.display(description="payout difference (payout - expected)", ordering="difference")
    def payout_difference(self, obj):
        return obj.difference

    @admin.display(description="discrepancies")
    def discrepancies(self, obj):
        return _discrepancies_link(obj.pk, "이 실행에서 찾은 차이 모두 보기")


# The list's default order: the OPEN ones (the operators' queue) first, newest first.
OPEN_FIRST = Case(When(status=OPEN, then=Value(0)), default=Value(1)).asc()


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    MAX_BULK = 50  # each re-check asks the PG
    list_display = [
        "created_at",
        "gateway",
        "day",
        "kind",
        "order",
        "pg_amount",
        "our_amount",
        "status",
        "detail",
        "resolved_by",
    ]
    list_filter = ["status", "kind", "run__gateway", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=order_id", "=reference"]
    search_help_text = "exact orderId, or the PG's transaction key / our refund key"
    list_select_related = ["run"]
    show_full_result_count = False
    ordering = [OPEN_FIRST, "-id"]
    actions = ["recheck", "resolve"]
    change_form_template = "admin/payments/discrepancy/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("run", "kind", "status"),
                    ("order", "reference"),
                    ("event", "refund"),
                    ("pg_amount", "our_amount"),
                    "detail",
                    "created_at",
                ]
            },
        ),
        ("해결 (resolution)", {"fields": [("resolved_by", "resolved_at"), "resolution"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Discrepancy._meta.fields] + ["order", "gateway", "day"]

    @admin.display(description="gateway", ordering="run__gateway")
    def gateway(self, obj):
        return obj.run.gateway

    @admin.display(description="day", ordering="run__day")
    def day(self, obj):
        return obj.run.day

    @admin.display(description="order", ordering="order_id")
    def order(self, obj):
        """The orderId, linked to the payment's page when it is ours."""
        if obj.event_id is None:
            return obj.order_id
        url = reverse("admin:payments_paymentevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.order_id)

    def has_resolve_permission(self, request):
        return request.user.has_perm(RESOLVE_PERMISSION)

    @admin.action(description="PG에서 다시 확인", permissions=["resolve"])
    def recheck(self, request, queryset):
        """The payment's own re-check at the PG for each selected one (its history names
        the operator); the discrepancy stays open until someone resolves it."""
        for row in queryset.order_by("id")[: self.MAX_BULK]:
            self._recheck(request, row)
        if queryset.count() > self.MAX_BULK:
            self.message_user(
                request,
                f"처음 {self.MAX_BULK}건만 다시 확인했습니다. 나머지는 다시 선택하세요.",
                messages.WARNING,
            )

    @admin.action(description="해결로 표시", permissions=["resolve"])
    def resolve(self, request, queryset):
        """To the resolve form of the one selected: each needs its own note."""
        ids = list(queryset.order_by("id").values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(
                request,
                "해결로 표시는 한 건씩 합니다 (어떻게 해결했는지 메모가 필요합니다). "
                "하나만 선택하세요.",
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(reverse("admin:payments_discrepancy_resolve", args=ids))

    def _recheck(self, request, row: Discrepancy) -> None:
        result = discrepancy_recheck(discrepancy_id=row.pk, operator=request.user.get_username())
        self.log_change(request, row, f"PG에서 다시 확인: {result.message}")
        if result.ok:
            text = (
                f"{row.order_id}: PG에서 다시 확인했습니다 ({result.message}). "
                "차이가 풀렸으면 '해결로 표시'로 닫으세요."
            )
        else:
            text = f"{row.order_id}: 다시 확인했지만 정리되지 않았습니다 ({result.message})."
        self.message_user(request, text, messages.SUCCESS if result.ok else messages.WARNING)

    def get_urls(self):
        recheck = self.admin_site.admin_view(self.recheck_view)
        resolve = self.admin_site.admin_view(self.resolve_view)
        extra = [
            path("<path:object_id>/recheck/", recheck, name="payments_discrepancy_recheck"),
            path("<path:object_id>/resolve/", resolve, name="payments_discrepancy_resolve"),
        ]
        return extra + super().get_urls()

    def _allowed_object(self, request, object_id) -> Discrepancy:
        if not request.user.has_perm(RESOLVE_PERMISSION):
            raise PermissionDenied
        row = self.get_object(request, object_id)  # None for a malformed or unknown id
        if row is None:
            raise Http404("no such discrepancy")
        return row

    def recheck_view(self, request, object_id):
        """The page's "PG에서 다시 확인" button: POST only, then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        row = self._allowed_object(request, object_id)
        self._recheck(request, row)
        return HttpResponseRedirect(reverse("admin:payments_discrepancy_change", args=[row.pk]))

    def resolve_view(self, request, object_id):
        """The "해결로 표시" form: a required note saying what was done (at most MAX_NOTE
        characters), then discrepancy_resolve records who, when and how."""
        row = self._allowed_object(request, object_id)
        problem = ""
        note = request.POST.get("note", "") if request.method == "POST" else ""
        if request.method == "POST":
            said = " ".join(note.split())  # as the service keeps it
            if not said:
                problem = "어떻게 해결했는지 메모를 적어 주세요 (필수)."
            elif len(said) > MAX_NOTE:
                problem = f"메모는 {MAX_NOTE}자까지 적을 수 있습니다."
            else:
                result = discrepancy_resolve(
                    discrepancy_id=row.pk, operator=request.user.get_username(), note=note
                )
                self.log_change(request, row, f"해결로 표시: {result.message}")
                if result.ok:
                    self.message_user(request, f"{row.order_id}: 해결로 표시했습니다.")
                else:
                    self.message_user(
                        request,
                        f"{row.order_id}: 해결로 표시하지 못했습니다 ({result.message}).",
                        messages.WARNING,
                    )
                change = reverse("admin:payments_discrepancy_change", args=[row.pk])
                return HttpResponseRedirect(change)
        context = {
            **self.admin_site.each_context(request),
            "title": f"해결로 표시: {row.order_id}",
            "opts": self.model._meta,
            "original": row,
            "note": note,
            "max_note": MAX_NOTE,
            "problem": problem,
            "refund_url": self._refund_url(request, row),
        }
        template = "admin/payments/discrepancy/resolve.html"
        return TemplateResponse(request, template, context, status=400 if problem else 200)

    def _refund_url(self, request, row: Discrepancy) -> str:
        """The payment's own Refund… form, for those who may refund a payment of ours that
        can still be refunded (the refund path: nothing new here)."""
        if row.event_id is None or not request.user.has_perm(REFUND_PERMISSION):
            return ""
        if row.event.status not in REFUNDABLE:
            return ""
        return reverse("admin:payments_paymentevent_refund", args=[row.event_id])

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        allowed = obj is not None and obj.status == OPEN and self.has_resolve_permission(request)
        context["can_resolve"] = allowed
        context["can_recheck"] = allowed and obj.event_id is not None
        context["refund_url"] = self._refund_url(request, obj) if obj is not None else ""
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

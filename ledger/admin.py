"""The operators' view of the books: accounts, journal entries, and the trial balance.

All read-only: an entry is never changed (the model refuses it too), and a balance moves
only with the postings that explain it. A seller's wallet is its seller_payable account,
a member's points its points account; the list filters by owner to find them.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from config.admin_readonly import ReadOnlyInline, ReadOnlyMixin
from ledger.check import ledger_check
from ledger.models import Account, JournalEntry, Posting
from ledger.selectors import trial_balance


@admin.register(Account)
class AccountAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["code", "kind", "whose", "normal_balance", "balance", "created_at"]
    list_filter = ["kind", "owner", "gateway"]
    search_fields = ["^code", "seller__name", "member__email"]
    search_help_text = "the start of a code (points:42, seller_payable:3), a seller or an email"
    list_select_related = ["seller", "member"]
    show_full_result_count = False
    ordering = ["code"]
    change_list_template = "admin/ledger/account/change_list.html"

    @admin.display(description="whose")
    def whose(self, obj):
        if obj.seller_id:
            return obj.seller.name
        if obj.member_id:
            return obj.member.email
        return obj.gateway or "platform"

    @admin.display(description="balance as its kind reads it")
    def normal_balance(self, obj):
        return obj.normal_balance

    def get_urls(self):
        view = self.admin_site.admin_view(self.trial_balance_view)
        extra = [path("trial-balance/", view, name="ledger_trial_balance")]
        return extra + super().get_urls()

    def trial_balance_view(self, request):
        """Every account and the total (zero when the books balance), with ledger_check."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Trial balance",
            "opts": self.model._meta,
            "balance": trial_balance(),
            "check": ledger_check(),
        }
        return TemplateResponse(request, "admin/ledger/trial_balance.html", context)


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ["account", "amount"]
    ordering = ["id"]
    verbose_name_plural = "postings (debit +, credit -; they sum to zero)"


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "kind", "reference", "memo"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=reference"]
    search_help_text = "an exact reference (a payment's orderId)"
    show_full_result_count = False
    ordering = ["-id"]
    inlines = [PostingInline]
    fields = ["kind", "reference", "memo", "created_at"]
    readonly_fields = fields

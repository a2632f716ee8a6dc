"""The admin site: Django's, with the payment numbers on its index for those who may see them."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class OpsAdminSite(admin.AdminSite):
    site_header = "Payments operations"
    site_title = "Payments operations"
    index_title = "Overview"
    index_template = "admin/ops_index.html"

    def index(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        if request.user.has_perm("payments.view_paymentevent"):
            from payments.selectors import payment_finished_recently, payment_operations_summary

            summary = payment_operations_summary()
            summary["finished_last_hour"] = payment_finished_recently(hours=1)
            summary["stuck_minutes"] = settings.PAYMENT_STUCK_SECONDS // 60
            extra_context["operations"] = summary
        return super().index(request, extra_context)


class OpsAdminConfig(AdminConfig):
    default_site = "config.admin_site.OpsAdminSite"

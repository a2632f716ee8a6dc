"""The admin site: Django's, with what the apps add to its index.

settings.ADMIN_INDEX_CONTEXT names functions (dotted paths) that take the request and
return context for the index page (the payment numbers, for those who may see them), so
this wiring imports no app.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.module_loading import import_string


class OpsAdminSite(admin.AdminSite):
    site_header = "Payments operations"
    site_title = "Payments operations"
    index_title = "Overview"
    index_template = "admin/ops_index.html"

    def index(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        for path in settings.ADMIN_INDEX_CONTEXT:
            extra_context.update(import_string(path)(request))
        return super().index(request, extra_context)


class OpsAdminConfig(AdminConfig):
    default_site = "config.admin_site.OpsAdminSite"

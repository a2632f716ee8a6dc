"""Admin pages that show and never edit: what the payment and ledger pages share.

Nothing that holds money or status is editable in the admin, for anybody; these refuse
add, change and delete whatever the user's permissions say.
"""

from django.contrib import admin


class ReadOnlyMixin:
    """Viewable by whoever has the view permission; never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

from django.contrib import admin

from products.models import Product, Seller


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    # commission_rate: the platform's share of this seller's sales; empty means
    # PLATFORM_COMMISSION_RATE. A change applies to checkouts from then on.
    list_display = ("id", "name", "commission_rate", "created_at")
    search_fields = ("name",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "seller", "price", "stock", "updated_at")
    list_filter = ("seller",)
    search_fields = ("name",)
    list_select_related = ("seller",)

    def get_readonly_fields(self, request, obj=None):
        # Stock moves under concurrent checkouts; a form holding an old number would
        # overwrite them. It is set once, when the product is created.
        return ("stock", "created_at", "updated_at") if obj else ("created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        if change:
            # Write only what the form changed: a full save() would also write back the
            # stock this request loaded, undoing any checkout committed since.
            fields = [f for f in form.changed_data if f != "stock"]
            if fields:
                obj.save(update_fields=[*fields, "updated_at"])
        else:
            obj.save()

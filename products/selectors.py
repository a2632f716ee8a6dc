from django.db.models import QuerySet

from products.models import Product


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


def product_get(*, product_id: int) -> Product | None:
    return Product.objects.filter(pk=product_id).first()

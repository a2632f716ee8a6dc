from django.db.models import QuerySet

from products.models import Product


def product_list() -> QuerySet[Product]:
    return Product.objects.all()


def product_get(*, product_id: int) -> Product | None:
    return Product.objects.filter(pk=product_id).first()


def product_in_bulk(*, ids: list[int]) -> dict[int, Product]:
    """The products with these ids, by id (unknown ids are absent), with their sellers."""
    return Product.objects.select_related("seller").in_bulk(ids)

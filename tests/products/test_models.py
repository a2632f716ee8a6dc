import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from products.models import Product
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields", [{"stock": -1}, {"price": 0}, {"price": -100}], ids=["stock", "price0", "price-"]
)
def test_the_database_refuses_negative_stock_and_non_positive_prices(fields):
    product = ProductFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(**fields)


def test_a_decrement_past_zero_is_refused_by_the_constraint_itself():
    # Even a buggy unconditional decrement cannot oversell.
    product = ProductFactory(stock=2)

    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(stock=F("stock") - 3)

    product.refresh_from_db()
    assert product.stock == 2


def test_the_conditional_decrement_takes_what_is_there_and_no_more():
    product = ProductFactory(stock=5)
    take = Product.objects.filter(pk=product.pk, stock__gte=3)

    assert take.update(stock=F("stock") - 3) == 1
    assert take.update(stock=F("stock") - 3) == 0

    product.refresh_from_db()
    assert product.stock == 2

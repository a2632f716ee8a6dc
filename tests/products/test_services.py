"""products/services.py: the only writers of Product.stock."""

import pytest
from django.db import transaction

from config.errors import DomainError
from products.models import Product
from products.services import stock_release, stock_reserve
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def stock(*products) -> list[int]:
    return [Product.objects.get(pk=p.pk).stock for p in products]


def test_a_reserve_takes_every_line():
    a, b = ProductFactory(stock=5), ProductFactory(stock=5)

    stock_reserve(quantities={a.pk: 2, b.pk: 5})

    assert stock(a, b) == [3, 0]


def test_a_reserve_short_of_one_product_takes_nothing_and_names_it():
    a, b = ProductFactory(stock=5), ProductFactory(stock=1)

    with pytest.raises(DomainError) as short, transaction.atomic():
        stock_reserve(quantities={a.pk: 2, b.pk: 2})

    assert (short.value.code, short.value.extra) == ("OUT_OF_STOCK", {"productId": b.pk})
    assert stock(a, b) == [5, 1]


def test_a_release_puts_back_what_was_held():
    a, b = ProductFactory(stock=3), ProductFactory(stock=0)

    stock_release(quantities={a.pk: 2, b.pk: 0})

    assert stock(a, b) == [5, 0]

import pytest
from django.db.models import F
from django.db.models.signals import pre_save

from products.models import Product
from tests.factories import MemberFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(MemberFactory(is_staff=True, is_superuser=True))
    return client


def test_editing_a_product_never_writes_back_a_stale_stock(admin_client):
    product = ProductFactory(name="Old name", price=1000, stock=10)
    url = f"/admin/products/product/{product.id}/change/"
    assert admin_client.get(url).status_code == 200

    def checkout_lands_first(sender, instance, **kwargs):
        # A checkout commits between the admin reading the row and writing it back.
        Product.objects.filter(pk=instance.pk).update(stock=F("stock") - 4)

    pre_save.connect(checkout_lands_first, sender=Product)
    try:
        response = admin_client.post(
            url, {"seller": product.seller_id, "name": "New name", "price": 1200, "stock": 10}
        )
    finally:
        pre_save.disconnect(checkout_lands_first, sender=Product)

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.price, product.stock) == ("New name", 1200, 6)


def test_a_new_product_gets_its_initial_stock(admin_client):
    seller = ProductFactory().seller

    response = admin_client.post(
        "/admin/products/product/add/",
        {"seller": seller.id, "name": "New", "price": 500, "stock": 7},
    )

    assert response.status_code == 302
    assert Product.objects.get(name="New").stock == 7

import base64

import pytest

from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_list_walks_every_product_once_with_cursor_pages(api_client):
    products = ProductFactory.create_batch(7)

    seen, url = [], "/api/v1/products?pageSize=3"
    while url:
        body = api_client.get(url).json()
        seen.extend(body["results"])
        url = body["next"]

    assert [p["id"] for p in seen] == [p.id for p in products]
    first = products[0]
    assert seen[0] == {
        "id": first.id,
        "name": first.name,
        "price": first.price,
        "stock": first.stock,
        "sellerId": first.seller_id,
    }


def test_list_pages_stay_stable_while_products_are_added(api_client):
    ProductFactory.create_batch(4)
    page1 = api_client.get("/api/v1/products?pageSize=2").json()
    ProductFactory.create_batch(3)

    page2 = api_client.get(page1["next"]).json()

    assert [p["id"] for p in page2["results"]] == [p["id"] + 2 for p in page1["results"]]


def test_list_needs_no_login(api_client):
    assert api_client.get("/api/v1/products").status_code == 200


def test_detail(api_client):
    product = ProductFactory(name="백자 머그컵", price=18000, stock=3)

    body = api_client.get(f"/api/v1/products/{product.id}").json()

    assert body == {
        "id": product.id,
        "name": "백자 머그컵",
        "price": 18000,
        "stock": 3,
        "sellerId": product.seller_id,
    }


def test_detail_of_a_missing_product_is_404(api_client):
    response = api_client.get("/api/v1/products/424242")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("position", [b"abc", b"1e5", b"-1", b"1" * 19])
def test_a_crafted_cursor_is_404_not_a_database_error(api_client, position):
    ProductFactory()
    cursor = base64.b64encode(b"p=" + position).decode()

    answer = api_client.get("/api/v1/products", {"cursor": cursor})

    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"

"""GET /metrics with METRICS_TOKEN: only a scraper that sends it sees the numbers."""

import pytest

pytestmark = [pytest.mark.django_db]


def test_with_a_token_set_metrics_need_it(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape"

    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape")

    assert anonymous.status_code == wrong.status_code == 401
    assert b"payment" not in anonymous.content
    assert right.status_code == 200 and b"payments_by_status" in right.content


def test_without_a_token_metrics_are_left_to_the_network(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 200

"""Fetching a settlement file for the nightly run: whole or not at all."""

import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from gateways.settlement_source import fetch, file_path

DAY = date(2026, 12, 3)
BODY = b"merchant_id,transaction_date\r\n" * 1000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if "broken" in self.path:
            # Promise more than is sent, then hang up: the download breaks half way.
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) * 2))
            self.end_headers()
            self.wfile.write(BODY)
            self.wfile.flush()
            self.connection.close()
            return
        if "missing" in self.path:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_a_whole_download_lands_under_the_days_name(server, tmp_path):
    dest = file_path(tmp_path / "settlement", "nicepay", DAY)

    fetch(f"{server}/ok?date={{date}}", dest, DAY, timeout=5)

    assert dest.name == "nicepay-2026-12-03.csv"
    assert dest.read_bytes() == BODY
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


@pytest.mark.parametrize("path", ["broken", "missing"])
def test_a_broken_or_refused_download_leaves_nothing(server, tmp_path, path):
    dest = file_path(tmp_path, "kakaopay", DAY)

    with pytest.raises(requests.RequestException):
        fetch(f"{server}/{path}?date={{date}}", dest, DAY, timeout=5)

    assert list(tmp_path.iterdir()) == []

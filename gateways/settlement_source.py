"""Where a PG's settlement file of a day comes from, for the nightly run.

NicePay and KakaoPay publish no settlement API: an operator downloads the day's file
from the PG's merchant site and puts it in SETTLEMENT_FILE_DIR as
`<gateway>-<YYYY-MM-DD>.csv`. Where the merchant site can be reached by URL (the
sandbox: `/sandbox/<gateway>/settlement-file?date=`), the gateway's SETTLEMENT_FILE_URL
(with `{date}` in it) is fetched into that directory first, streamed to disk.

Not through gateways/http.py: that client speaks the PGs' JSON APIs and reads whole
answers, where this is a file from the merchant site, streamed; it keeps its two rules
that matter here (never inside a transaction, a log line without the URL's secrets).
"""

import time
from datetime import date
from pathlib import Path

import requests
import structlog

from gateways.http import assert_no_transaction

log = structlog.get_logger("gateways.http")


def file_path(directory: Path, gateway: str, day: date) -> Path:
    return directory / f"{gateway}-{day.isoformat()}.csv"


def fetch(url_template: str, dest: Path, day: date, *, timeout: float) -> None:
    """Download the day's file to `dest` (through a temporary name, so a broken download
    never leaves a half file where the run would read it). requests' errors propagate."""
    assert_no_transaction()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".part")
    started = time.monotonic()
    try:
        url = url_template.format(date=day.isoformat())
        with requests.get(url, stream=True, timeout=timeout) as r:
            r.raise_for_status()
            with partial.open("wb") as out:
                for block in r.iter_content(chunk_size=64 * 1024):
                    out.write(block)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(dest)
    log.info(
        "settlement_file_fetched",
        file=dest.name,
        bytes=dest.stat().st_size,
        ms=round((time.monotonic() - started) * 1000),
    )

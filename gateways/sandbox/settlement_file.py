"""`GET /sandbox/{gateway}/settlement-file?date=YYYY-MM-DD`: one day of a PG's transactions
as the CSV file an operator downloads from the PG's merchant site.

NicePay publishes no settlement API and KakaoPay none at all, so reconciliation reads a
downloaded file; its layout is the project's own (docs/sandbox.md, Reconciliation
records), not a PG's, and every PG's file has the same one:

    merchant_id,transaction_date,tid,transaction_id,order_id,type,amount,fee,payout_amount,payout_date

One row per approval (APPROVAL, positive amount and fee) and per cancel (CANCEL, both
negative) whose Korean date is `date`, in order of time. `tid` is the payment's id at
the PG (Toss: the paymentKey), so a cancel's row joins the approval it cancels;
`transaction_id` is the transaction's own key (Toss transactionKey, NicePay the approval's
or cancel's tid, KakaoPay the aid), unique in a file, so two equal partial cancels on one
day are two rows, not one row twice. The app's reader is gateways/settlement_file.py.
"""

import csv
import io
import re
from datetime import date

from aiohttp import web

from gateways.sandbox import settlement
from gateways.sandbox.control import control_error

# Spelt out again rather than imported from the app's reader: the sandbox plays the PG,
# so a change to the reader must not change what the "PG" writes without a test failing
# (tests/gateways/test_reconciliation_readers.py reads this file with the reader).
HEADER = (
    "merchant_id",
    "transaction_date",
    "tid",
    "transaction_id",
    "order_id",
    "type",
    "amount",
    "fee",
    "payout_amount",
    "payout_date",
)
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def render(rows: list[settlement.Transaction]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes only where a field needs them
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(
            (
                row.merchant_id,
                row.day.isoformat(),
                row.payment_key,
                row.transaction_key,
                row.order_id,
                row.kind,
                row.signed_amount,
                row.fee,
                row.payout_amount,
                row.payout_date.isoformat(),
            )
        )
    return out.getvalue()


def _day(raw: str) -> date | None:
    if not _DATE.match(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:  # 2024-02-30
        return None


async def settlement_file(request: web.Request) -> web.Response:
    gateway = request.match_info["gateway"]
    ledger = request.app["sandbox"].ledgers.get(gateway)
    if ledger is None or gateway not in settlement.ROWS:
        return control_error(f"no such gateway {gateway}", 404, "NOT_FOUND")
    day = _day(request.query.get("date", ""))
    if day is None:
        return control_error("date must be a day, YYYY-MM-DD")
    return web.Response(
        text=render(settlement.on_day(gateway, ledger, day)),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{gateway}-{day}.csv"'},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/{gateway}/settlement-file", settlement_file)

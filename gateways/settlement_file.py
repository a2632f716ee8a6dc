"""The settlement file an operator downloads from NicePay's or KakaoPay's merchant site,
read into PgTransaction and PgSettlement rows (docs/pg.md, Reading the PGs' records).

Neither PG has a settlement API we can call, so reconciliation of those two reads this
file instead. The layout is the project's own (one for every PG), RFC 4180 CSV in UTF-8,
a byte-order mark allowed (a spreadsheet saves one):

    merchant_id,transaction_date,tid,transaction_id,order_id,type,amount,fee,payout_amount,payout_date

`transaction_id` is the key of the transaction itself (NicePay: the approval's tid or
the cancel's cancelledTid; KakaoPay: the aid), `tid` the payment's. Without it two partial
cancels of the same amount on the same day could not be told from one row written twice,
and a cancel could not be matched to the refund that made it.

A file is all or nothing: the first bad row raises BadSettlementFile with its physical
line, so the caller reads it twice, once to validate everything and once to apply it.
`read` streams: one row in memory, plus the line of every transaction_id seen (for the
duplicate check).
"""

import csv
import io
import os
import re
from collections.abc import Iterator
from datetime import date

from gateways.types import TX_APPROVAL, TX_CANCEL, PgSettlement, PgTransaction

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
ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark
# Stricter than int(), which also takes "+5", " 5", "1_000" and non-ASCII digits: a file
# that writes amounts another way is not the layout, and a guess could misread a sum.
_WHOLE = re.compile(r"-?[0-9]+")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadSettlementFile(ValueError):
    """The file is not a settlement file of ours for that day; nothing of it may be used."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line  # 1-based physical line; 0 for the file as a whole
        self.reason = reason


def read(
    path: str | os.PathLike, *, merchant_id: str, day: date
) -> Iterator[tuple[PgTransaction, PgSettlement]]:
    """Each row of the file as (transaction, settlement), in file order.

    `merchant_id` is the id the PG's records carry for us (gateway.merchant_id()) and
    `day` the day being reconciled: a row of another merchant or another day means the
    operator downloaded the wrong file. Raises BadSettlementFile at the first bad row.
    """
    seen: dict[str, int] = {}  # transaction_id -> its line, for the duplicate check
    try:
        with open(path, newline="", encoding=ENCODING) as file:
            reader = csv.reader(file, strict=True)
            header = _next(reader)
            if header is None:
                raise BadSettlementFile(0, "the file is empty: no header line")
            if tuple(header) != HEADER:
                raise BadSettlementFile(1, f"expected the header {','.join(HEADER)}")
            while True:
                start = reader.line_num + 1  # where the row begins (a quoted field may span lines)
                row = _next(reader)
                if row is None:
                    return
                yield _row(row, start, merchant_id=merchant_id, day=day, seen=seen)
    except UnicodeDecodeError:
        # The text layer decodes ahead of the csv reader, so the error does not say which
        # line it was on: find it by decoding the file again line by line.
        raise BadSettlementFile(_undecodable_line(path), "not UTF-8") from None


def validate(path: str | os.PathLike, *, merchant_id: str, day: date) -> int:
    """The number of rows, or BadSettlementFile at the first bad one."""
    return sum(1 for _ in read(path, merchant_id=merchant_id, day=day))


def _next(reader) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:  # bad quoting, a NUL byte, a field over the csv size limit
        raise BadSettlementFile(reader.line_num, f"not CSV: {exc}") from None


def _row(
    row: list[str], line: int, *, merchant_id: str, day: date, seen: dict[str, int]
) -> tuple[PgTransaction, PgSettlement]:
    def bad(reason: str) -> BadSettlementFile:
        return BadSettlementFile(line, reason)

    if not row:
        raise bad("empty line")
    if len(row) != len(HEADER):
        raise bad(f"wrong number of columns: {len(row)}, expected {len(HEADER)}")
    fields = dict(zip(HEADER, row, strict=True))
    if fields["merchant_id"] != merchant_id:
        raise bad(f'merchant_id "{fields["merchant_id"]}" is not ours (expected "{merchant_id}")')
    sold = _date(fields, "transaction_date", bad)
    if sold != day:
        raise bad(f"transaction_date {sold} is not the day being reconciled ({day})")
    for name in ("tid", "transaction_id", "order_id"):
        if not fields[name]:
            raise bad(f'column "{name}" is empty')
    kind = fields["type"]
    if kind not in (TX_APPROVAL, TX_CANCEL):
        raise bad(f'type must be APPROVAL or CANCEL, not "{kind}"')
    amount, fee, payout = (_whole(fields, name, bad) for name in ("amount", "fee", "payout_amount"))
    if kind == TX_APPROVAL and amount <= 0:
        raise bad(f"APPROVAL needs a positive amount, not {amount}")
    if kind == TX_CANCEL and amount >= 0:
        raise bad(f"CANCEL needs a negative amount, not {amount}")
    if payout != amount - fee:
        raise bad(f"payout_amount must be amount - fee: {payout}, expected {amount - fee}")
    paid_out = _date(fields, "payout_date", bad)
    if paid_out < sold:
        raise bad(f"payout_date {paid_out} is before transaction_date {sold}")
    key = fields["transaction_id"]
    if key in seen:
        raise bad(f"duplicate of line {seen[key]} (transaction_id {key})")
    seen[key] = line
    return (
        PgTransaction(
            order_id=fields["order_id"],
            payment_key=fields["tid"],
            transaction_key=key,
            kind=kind,
            amount=abs(amount),
            day=sold,
        ),
        PgSettlement(
            transaction_key=key,
            order_id=fields["order_id"],
            kind=kind,
            amount=amount,
            fee=fee,
            payout_amount=payout,
            payout_date=paid_out,
        ),
    )


def _whole(fields: dict, name: str, bad) -> int:
    raw = fields[name]
    if not _WHOLE.fullmatch(raw):
        raise bad(f'column "{name}" is not a whole number: "{raw}"')
    return int(raw)


def _date(fields: dict, name: str, bad) -> date:
    raw = fields[name]
    try:
        if _DAY.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:  # 2026-02-30
        pass
    raise bad(f'column "{name}" is not a date (YYYY-MM-DD): "{raw}"')


def _undecodable_line(path: str | os.PathLike) -> int:
    """The physical line of the first byte that is not UTF-8 (0 if none is found).

    Latin-1 maps every byte to one character, so its lines split exactly where the UTF-8
    reader's do (the line ends are the same bytes) and each line can be re-checked alone.
    """
    with open(path, "rb") as raw:
        lines = io.TextIOWrapper(raw, encoding="latin-1", newline="")
        for number, text in enumerate(lines, start=1):
            try:
                text.encode("latin-1").decode(ENCODING if number == 1 else "utf-8")
            except UnicodeDecodeError:
                return number
    return 0

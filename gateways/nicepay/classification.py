"""How to read NicePay result codes: data, with defaults from pg-contracts 2.5.

Same classes as Toss (RETRY, FAIL, UNKNOWN, ALREADY_DONE). NicePay has no idempotency
key, but an approval is bound to its tid: repeating an approve that went through answers
2201, which the gateway turns into a lookup. So repeating is safe, and codes whose
outcome is unknown are RETRY here.
"""

from gateways.classification import ErrorClass, override

R, F, U, A = ErrorClass.RETRY, ErrorClass.FAIL, ErrorClass.UNKNOWN, ErrorClass.ALREADY_DONE

_TRANSIENT = {
    "2159",
    "4001",
    "4008",
    "A246",
    "V003",
    "A299",
    "U303",
    "A226",
    "A401",
    "U501",
    "U508",
    "A304",
    "A306",
    "A402",
    "U506",
    "U507",
    "2000",
    "P026",
    "P027",
    "9002",
    "S999",
}
_CONFIG = {"U104", "U304", "U305", "U315", "A224"}
_NOT_FOUND = {"A118", "A251", "U107", "U111"}

APPROVE = {
    **dict.fromkeys(_TRANSIENT, R),
    **dict.fromkeys(_CONFIG, U),
    **dict.fromkeys(_NOT_FOUND, F),
    **dict.fromkeys(["2201", "2156", "A225", "U114", "A127", "U112", "P015"], A),
    **dict.fromkeys(["A123", "A245", "P034", "U127", "A116"], F),
}
LOOKUP = {**dict.fromkeys(_TRANSIENT, R), **dict.fromkeys(_CONFIG, U)}
CANCEL = {
    **dict.fromkeys(_TRANSIENT, R),
    **dict.fromkeys(_CONFIG, U),
    **dict.fromkeys(["2013", "2015"], A),
}
TABLES = {"approve": APPROVE, "lookup": LOOKUP, "cancel": CANCEL, "netcancel": CANCEL}
NOT_FOUND = _NOT_FOUND


def classify(operation: str, code: str, http_status: int) -> ErrorClass:
    chosen = override("nicepay", operation, code)
    if chosen is not None:
        return chosen
    known = TABLES[operation].get(code)
    if known is not None:
        return known
    if code.startswith("3"):  # 3011-3095: card-side refusals
        return F
    return R if http_status >= 500 else F

"""Payment services: plain functions named <entity>_<action>, keyword arguments only.

pg            the PG port: the only way to talk to a PG; answers a PgAnswer
decisions     what we do about what the PG said: pure tables, one per situation
settle        carry a decision out and record it with everything it owes
checkout      price the order, reserve stock, create the NOT_STARTED payment
pricing       the server's price of an order
idempotency   Idempotency-Key: one answer per key, also under concurrent repeats
confirm       the buyer's confirm, synchronous or asynchronous (and its worker side)
recovery      payments in doubt, claimed under a lease and settled by asking the PG
stock_restore the stock a FAILURE gives back, exactly once
compensation  restores that failed, retried after a PG re-check
expiry        abandoned checkouts fail and give their stock back
operator      the admin's audited actions
webhooks      the PGs' notifications: stored, then a reason to ask the PG
waiting       `Prefer: wait=N`: wait for an outcome without a database connection
queue         Celery tasks queued by name
"""

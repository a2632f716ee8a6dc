"""The PG sandbox: an emulator of the real PGs' wire contracts, with fault injection.

It runs as its own process (`python manage.py run_pg_sandbox`) on asyncio, keeps its
state in memory (optionally in a file), and knows nothing of the app: the app reaches
it only through the gateway settings, exactly as it would reach the real PG.

Modules: clock (a clock tests can move), faults (injection rules), idempotency (the
Toss Idempotency-Key store), webhooks (delivery with the PG's retry schedule),
requestlog, persistence, server (the aiohttp app and the control API), settlement
(the transaction rows, fees and payout dates reconciliation reads), settlement_file
(their CSV), differences (PG records made to differ on purpose), and one package per PG
with its wire API and buyer window.
"""

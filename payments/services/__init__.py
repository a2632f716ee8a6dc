"""Payment services: plain functions named <entity>_<action>, keyword arguments only.

checkout    price the order, reserve stock, create the NOT_STARTED payment
confirm     DESIGN section 4, steps 1 to 6
outcome     the one function that records an outcome (outbox / compensation with it)
verdict     what a PG's answer means for one of our payments
compensation  the stock restore owed by a FAILURE, exactly once
"""

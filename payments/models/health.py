"""What we know of each PG's health, from the calls we make (payments.services.pg_health).

One row per gateway. The call counters only grow (each process adds what it saw, in
batches); recovery's scan compares them with what it saw last time (seen_*) to decide
whether the gateway is DOWN (most calls failing) or UP again.
"""

from django.db import models


class GatewayState(models.TextChoices):
    UP = "UP", "정상"
    DOWN = "DOWN", "장애"


class GatewayHealth(models.Model):
    gateway = models.CharField(max_length=32, primary_key=True)
    state = models.CharField(max_length=8, choices=GatewayState.choices, default=GatewayState.UP)
    changed_at = models.DateTimeField(null=True, blank=True)
    # When it last came back UP after being DOWN: what was in doubt then is brought forward.
    recovered_at = models.DateTimeField(null=True, blank=True)
    ok_calls = models.BigIntegerField(default=0)
    failed_calls = models.BigIntegerField(default=0)
    seen_ok = models.BigIntegerField(default=0)
    seen_failed = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "gateway health"
        verbose_name_plural = "gateway health"

    def __str__(self) -> str:
        return f"{self.gateway}: {self.state}"

"""Production settings plus the naive confirm (bench/naive.py), for the baseline only."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.naive_urls"

"""Production settings refuse to start on anything unsafe; checked in a fresh interpreter."""

import subprocess
import sys

import pytest

from tests.processes import ROOT, child_env

GOOD_KEY = "k3Jq9vX2mP8wL5tR7yB4nC6hF1dS0aG-zQeUoIiYpTrWxVbNmKjHgFdSaZxCvB"


def start_production(**env: str) -> subprocess.CompletedProcess:
    environment = child_env(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    for name in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({"ALLOWED_HOSTS": "pay.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": "changeme", "ALLOWED_HOSTS": "pay.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": "a" * 60, "ALLOWED_HOSTS": "pay.example.com"}, "SECRET_KEY"),
        (
            {"SECRET_KEY": "django-insecure-" + GOOD_KEY, "ALLOWED_HOSTS": "pay.example.com"},
            "SECRET_KEY",
        ),
        ({"SECRET_KEY": GOOD_KEY}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "x", "DEBUG": "true"}, "DEBUG"),
    ],
    ids=["no-key", "short-key", "one-char-key", "insecure-key", "no-hosts", "debug"],
)
def test_production_refuses_to_start(env, complaint):
    result = start_production(**env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr
    assert "started" not in result.stdout


def test_production_starts_with_a_real_key():
    result = start_production(SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="pay.example.com")

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout

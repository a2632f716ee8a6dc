"""The embedded default: `make run` on a laptop (SQLite, filesystem broker, sandbox PGs)."""

import secrets

from config.env import VAR_DIR, env
from config.settings.base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)


def _local_secret_key() -> str:
    """A key made once per checkout and kept in var/, so no key ever sits in git."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY", default="") or _local_secret_key()

"""The one django-environ ``Env`` every settings module reads from.

Only the environment configures the service; nothing secret lives in git. A ``.env``
file is read only when DJANGO_READ_DOT_ENV_FILE is set, so a stray file on a server
never silently overrides the real environment.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

"""deploy/nginx/nginx.conf, as compose runs it, adapted to run on this machine in front
of a gunicorn on a local port (bench/stack.py, tests/config/test_nginx.py): the same
limits, buffering and timeouts, only the addresses and paths changed."""

import re
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "nginx.conf"
NGINX = "/usr/sbin/nginx"


def local_nginx_conf(
    *, listen_port: int, upstream: str, work: Path, checkout_cap: int | None = None
) -> str:
    """The configuration text; `upstream` like http://127.0.0.1:8000, pid file in `work`;
    `checkout_cap` in place of the file's cap on checkouts in flight."""
    conf = CONF.read_text()
    if checkout_cap is not None:
        cap = f"limit_conn checkouts {checkout_cap};"
        conf, found = re.subn(r"limit_conn checkouts \d+;", cap, conf)
        if found != 1:
            raise RuntimeError(f"{CONF} has no one `limit_conn checkouts N;` to replace")
    for old, new in (
        ("worker_processes auto;", "worker_processes 1;"),
        ("pid /var/run/nginx.pid;", f"pid {work}/nginx.pid;"),
        ("access_log /dev/stdout combined;", "access_log off;"),
        ("listen 80;", f"listen 127.0.0.1:{listen_port};"),
        ("set $web http://web:8000;", f"set $web {upstream};"),
    ):
        if old not in conf:
            raise RuntimeError(f"{CONF} has no {old!r} to replace")
        conf = conf.replace(old, new)
    return conf


def local_nginx_command(work: Path) -> list[str]:
    """Run in the foreground with `work` as its prefix (temp files there too)."""
    return [NGINX, "-p", str(work), "-c", "nginx.conf", "-g", "daemon off;"]

#!/usr/bin/env bash
# Make sure this machine's MariaDB and Redis answer (CI and `make bench` use them);
# start them when they are down. The packages come from .ci/run on a fresh machine.
set -euo pipefail
if ! mariadb-admin -uroot --connect-timeout=2 ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 60); do
  mariadb-admin -uroot --connect-timeout=2 ping >/dev/null 2>&1 \
    && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 1
done
mariadb -uroot -h127.0.0.1 -e "SELECT VERSION() AS mariadb"
redis-cli -h 127.0.0.1 ping


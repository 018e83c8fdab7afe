# Shared by the scripts under scripts/: paths, versions and small helpers.
# Everything downloaded or started lives outside the repository, under OESOPHAGUS_HOME.

# As root the services run as unprivileged users, who cannot enter /root: keep state under /var/cache.
if [ "$(id -u)" = 0 ]; then
  OESOPHAGUS_HOME="${OESOPHAGUS_HOME:-/var/cache/oesophagus}"
else
  OESOPHAGUS_HOME="${OESOPHAGUS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/oesophagus}"
fi
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
# 8.19.9 is the newest 8.x integ-test zip Maven Central served on 2026-11-24; the client is 8.19.2.
ES_VERSION="${ES_VERSION:-8.19.9}"
# The last 3.x: KRaft without ZooKeeper, and every protocol version kafkajs 2.2.4 speaks.
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
ES_USER="${ES_USER:-oesophagus-es}"
JAVA17_HOME="${JAVA17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"

log() { printf '[oesophagus] %s\n' "$*" >&2; }
die() { printf '[oesophagus] error: %s\n' "$*" >&2; exit 1; }

# A TCP port nobody listens on, starting from $1.
# A socket a process still holds on the port counts, not only a listening one: ports from 32768 up
# are also handed out to outgoing connections, and one of those on the port makes a server's bind
# fail. Sockets left closing by a server that stopped (TIME-WAIT, FIN-WAIT) do not: PostgreSQL and
# Elasticsearch bind over them (SO_REUSEADDR), and counting them moved a restarted server to another
# port than the one its clients were given.
port_in_use() {
  ss -Htan state listening state established state syn-sent state syn-recv state close-wait "sport = :$1" | grep -q .
}

free_port() {
  local port=$1
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

# Runs a command as the given service user when we are root, as ourselves otherwise.
as_user() {
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

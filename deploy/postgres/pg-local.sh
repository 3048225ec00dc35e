#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and development, without Docker.
#   pg-local.sh install        install Debian's postgresql package if initdb is missing (root)
#   pg-local.sh start DIR      initdb in DIR, start on a free 127.0.0.1 port, create database
#                              "lifeboat"; prints the SQLAlchemy URL and writes DIR/url, DIR/pg.log
#                              With $PG_LOCAL_PASSWORD set, TCP connections need that password
#                              (scram-sha-256; the Unix socket in DIR stays trust) and the URL
#                              carries it (a test of real password authentication)
#   pg-local.sh stop DIR       stop it
#   pg-local.sh restart DIR    restart it (pg_ctl restart, same port and data: a fault for tests);
#                              prints the SQLAlchemy URL once it accepts connections again
set -euo pipefail

find_bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do
    [[ -x "$b/initdb" ]] && { echo "$b"; return 0; }
  done
  command -v initdb >/dev/null && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
  return 1
}

install() {
  if find_bin >/dev/null; then return 0; fi
  if [[ $EUID -ne 0 ]]; then echo "pg-local: PostgreSQL is missing; install Debian's postgresql package" >&2; exit 1; fi
  echo "pg-local: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian starts a system cluster on 5432; tests use their own, so stop that one.
  (command -v pg_ctlcluster >/dev/null && pg_lsclusters -h 2>/dev/null | while read -r v c _; do pg_ctlcluster "$v" "$c" stop || true; done) || true
}

# postgres refuses to run as root: run it as the 'postgres' system user when we are root.
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start() {
  local dir="$1"
  install
  local bin; bin="$(find_bin)"
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown -R postgres "$dir"
    # every parent must be traversable by the postgres user
    local p="$dir"; while [[ "$p" != "/" ]]; do chmod o+x "$p" 2>/dev/null || true; p="$(dirname "$p")"; done
  fi
  local port; port="$(free_port)"
  local auth=(-A trust) userinfo=lifeboat
  if [[ -n "${PG_LOCAL_PASSWORD:-}" ]]; then
    ( umask 077; printf '%s\n' "$PG_LOCAL_PASSWORD" > "$dir/pwfile" )
    [[ $EUID -eq 0 ]] && chown postgres "$dir/pwfile"
    auth=(--auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pwfile")
    userinfo="lifeboat:$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$PG_LOCAL_PASSWORD")"
  fi
  as_pg "$bin/initdb" -D "$dir/data" -U lifeboat "${auth[@]}" -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { echo "pg-local: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
    -o "-p $port -h 127.0.0.1 -k $dir -c max_connections=300 -c shared_buffers=128MB" start >/dev/null \
    || { echo "pg-local: postgres failed to start:" >&2; tail -30 "$dir/pg.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  as_pg "$bin/createdb" -h "$dir" -p "$port" -U lifeboat lifeboat
  local url="postgresql+asyncpg://$userinfo@127.0.0.1:$port/lifeboat"
  ( umask 077; echo "$url" > "$dir/url" )
  echo "$url"
}

stop() {
  local dir="$1"
  [[ -d "$dir/data" ]] || return 0
  local bin; bin="$(find_bin)"
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

restart() {
  local dir="$1"
  [[ -d "$dir/data" && -f "$dir/url" ]] || { echo "pg-local: no cluster was started in $dir" >&2; exit 1; }
  local bin; bin="$(find_bin)"
  # pg_ctl restart reuses the options of the last start (postmaster.opts): same port and socket.
  # -m fast: sessions are terminated, as a crash or failover of the server would drop them.
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -m fast -w -t 60 restart >/dev/null \
    || { echo "pg-local: postgres failed to restart:" >&2; tail -30 "$dir/pg.log" >&2; exit 1; }
  cat "$dir/url"
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?usage: pg-local.sh start DIR}" ;;
  stop) stop "${2:?usage: pg-local.sh stop DIR}" ;;
  restart) restart "${2:?usage: pg-local.sh restart DIR}" ;;
  *) echo "usage: pg-local.sh install|start DIR|stop DIR|restart DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A throwaway one-node Ceph cluster (mon, mgr, one BlueStore OSD on a sparse file) on 127.0.0.1,
# for RBD tests and the OpenStack lab, without systemd, cephadm or a block device.
#   ceph-local.sh install               install Debian's Ceph packages if missing (apt, sudo if
#                                       not root); a no-op when they are there
#   ceph-local.sh start DIR [--port N]  new cluster in DIR (mon on 127.0.0.1:N, else a free
#                                       port), pools volumes/images/backups, one keyring per
#                                       client; prints DIR/ceph.conf, writes DIR/cluster.json.
#                                       Refuses when a cluster is still running in DIR.
#   ceph-local.sh stop DIR              stop its daemons (SIGTERM, SIGKILL after ~10 s)
#   ceph-local.sh status DIR            `ceph -s` as client.admin; exit 1 when it is down
#   ceph-local.sh python-shim VENV      make Debian's rados and rbd modules (only those two)
#                                       importable in the virtualenv VENV
# Everything but start's one line of output goes to stderr. See README.md beside this script.
set -euo pipefail

PACKAGES=(ceph-mon ceph-osd ceph-mgr ceph-common python3-rbd python3-rados)
DIST=/usr/lib/python3/dist-packages
SHIM_MODULES=(rados.cpython-311-x86_64-linux-gnu.so rbd.cpython-311-x86_64-linux-gnu.so)
POOLS=(volumes images backups)
# cephx clients made at start: id, then its capabilities (least each needs).
#  cinder            Cinder's RBD driver: images, snapshots and clones in volumes; reads images
#                    (clones of Glance images). mgr 'profile rbd' for the rbd_support module
#                    (trash purge schedules, image removal tasks).
#  lifeboat-reader   the replicator at a protected site: snapshots and diffs, no writes.
#  lifeboat-writer   the replicator at a recovery site: writes replica images in volumes.
CLIENTS=(cinder lifeboat-reader lifeboat-writer)
declare -A CAPS=(
  [cinder]="mon|profile rbd|osd|profile rbd pool=volumes, profile rbd-read-only pool=images|mgr|profile rbd pool=volumes"
  [lifeboat-reader]="mon|profile rbd|osd|profile rbd-read-only pool=volumes"
  [lifeboat-writer]="mon|profile rbd|osd|profile rbd pool=volumes"
)
# Daemon names and their pid files (DIR/run/<name>.pid), in stop order.
DAEMONS=(osd.0 mgr.x mon.a)

log() { echo "ceph-local: $*" >&2; }
# Seconds since the start began, with tenths (for the progress lines).
T0=${EPOCHREALTIME/./}
elapsed() { local us=$((${EPOCHREALTIME/./} - T0)); printf '%d.%ds' $((us / 1000000)) $((us / 100000 % 10)); }
die() { log "$*"; exit 1; }

# Daemons read CEPH_ARGS as extra arguments (and then fail with "failed to fetch mon config"
# when it names a client keyring); the CLI gets its conf and keyring explicitly instead.
unset CEPH_ARGS CEPH_CONF

have_packages() {
  local b
  for b in ceph-mon ceph-osd ceph-mgr ceph rbd ceph-authtool monmaptool; do
    command -v "$b" >/dev/null || return 1
  done
  local m
  for m in "${SHIM_MODULES[@]}"; do [[ -f "$DIST/$m" ]] || return 1; done
}

install() {
  have_packages && return 0
  local sudo=""
  [[ $EUID -eq 0 ]] || sudo="sudo"
  log "installing Debian's Ceph packages: ${PACKAGES[*]}"
  local t0=$SECONDS
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${PACKAGES[@]}" >&2; then
    log "apt-get install failed; running apt-get update and trying again"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${PACKAGES[@]}" >&2 || die "apt-get install ${PACKAGES[*]} failed"
  fi
  have_packages || die "Ceph packages installed but a command or module is still missing"
  log "installed in $((SECONDS - t0))s"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

port_busy() { python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"; }

# The CLI as client.admin, on this cluster only.
ceph_admin() { command ceph --conf "$D/ceph.conf" --keyring "$D/client.admin.keyring" --name client.admin "$@"; }
rbd_admin() { command rbd --conf "$D/ceph.conf" --keyring "$D/client.admin.keyring" --name client.admin "$@"; }

# PID of a daemon of the cluster in $D, if it runs: the pid file's PID, only while that process
# is a Ceph daemon started with this DIR's conf (a recycled PID is never signalled).
daemon_pid() {
  local f="$D/run/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(tr -dc 0-9 <"$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *ceph* && "$cmd" == *"$D/ceph.conf"* ]] || return 1
  # a zombie is not running
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]] || return 1
  echo "$pid"
}

running_daemons() {
  local n
  for n in "${DAEMONS[@]}"; do daemon_pid "$n" >/dev/null && echo "$n"; done
  return 0
}

write_conf() {
  local fsid="$1" port="$2"
  cat >"$D/ceph.conf" <<EOF
# One-node test cluster made by deploy/ceph/ceph-local.sh; every path is under $D.
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
# Each client finds DIR/client.<id>.keyring unless it passes keyring= itself.
keyring = $D/\$name.keyring
run dir = $D/run
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# Every client here is Pacific: no insecure global_id reclaim (and no warning about it).
auth allow insecure global id reclaim = false
# Shared test machines often have less than 30 % of their disk free.
mon data avail warn = 5
# PG states reach the mgr (ceph pg stat, ceph -s) within a second instead of five.
mgr stats period = 1
# Clients (Cinder, the replicator, the CLI) get no admin socket and no log file here: several
# processes of one client name would fight over them. Daemons get both, under DIR.
[mon]
mon data = $D/mon-\$id
keyring = \$mon_data/keyring
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
[mgr]
mgr data = $D/mgr-\$id
# Only the modules RBD needs (rbd_support: trash purge and removal tasks, used by Cinder) and
# status: the others cost ~150 MB of RSS and create pools and warnings of their own.
mgr disabled modules = diskprediction_local iostat nfs restful alerts cephadm dashboard influx insights k8sevents localpool mds_autoscaler mirroring osd_perf_query osd_support prometheus selftest snap_schedule stats telegraf test_orchestrator zabbix rook
keyring = \$mgr_data/keyring
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
[osd]
osd data = $D/osd-\$id
keyring = \$osd_data/keyring
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 10737418240
# Memory: the OSD's cache is fixed at 128 MiB (RSS ~110 MB) instead of autotuned to 4 GiB.
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
EOF
}

wait_for() { # wait_for SECONDS WHAT COMMAND...
  local limit="$1" what="$2" i
  shift 2
  for ((i = 0; i < limit * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  die "timed out after ${limit}s waiting for $what (logs in $D/log)"
}

osd_up() { ceph_admin osd stat 2>/dev/null | grep -q "1 up"; }

pgs_active() {
  # every PG active (+clean): the pools can be written at once
  local s
  s="$(ceph_admin pg stat 2>/dev/null)" || return 1
  [[ "$s" =~ ([0-9]+)\ pgs:\ ([0-9]+)\ active ]] && [[ "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]]
}

start() {
  local port=""
  D="${1:?usage: ceph-local.sh start DIR [--port N]}"
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) port="${2:?--port needs a number}"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  install
  mkdir -p "$D"
  D="$(cd "$D" && pwd)"
  local up
  up="$(running_daemons | tr '\n' ' ')"
  [[ -z "$up" ]] || die "a cluster is already running in $D (${up% }); run ceph-local.sh stop $D first"
  if [[ -n "$port" ]]; then
    port_busy "$port" && die "port $port is already in use on 127.0.0.1"
  else
    port="$(free_port)"
  fi
  T0=${EPOCHREALTIME/./}
  # A start that fails stops the daemons it started (their logs stay in DIR/log).
  trap '[[ -f "$D/cluster.json" ]] || { log "start failed; stopping what it started"; stop "$D"; }' EXIT
  # Only this script's own entries: DIR may hold other things.
  rm -rf "$D"/{mon-a,mgr-x,osd-0,run,log,monmap,ceph.conf,cluster.json} "$D"/*.keyring
  mkdir -p "$D"/{mon-a,mgr-x,osd-0,run,log}
  local fsid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid" "$port"
  # Every key is made here and handed to the monitor at mkfs: no auth round trips later.
  # DIR/<entity>.keyring for clients, DIR/<type>-<id>/keyring for daemons.
  (
    umask 077
    authtool() { ceph-authtool --create-keyring "$1" --gen-key -n "$2" "${@:3}" >/dev/null; }
    authtool "$D/mkfs.keyring" mon. --cap mon 'allow *'
    authtool "$D/client.admin.keyring" client.admin \
      --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
    authtool "$D/mgr-x/keyring" mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
    authtool "$D/osd-0/keyring" osd.0 --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
    local c caps args i
    for c in "${CLIENTS[@]}"; do
      IFS='|' read -r -a caps <<<"${CAPS[$c]}"
      args=()
      for ((i = 0; i < ${#caps[@]}; i += 2)); do args+=(--cap "${caps[i]}" "${caps[i + 1]}"); done
      authtool "$D/client.$c.keyring" "client.$c" "${args[@]}"
    done
    for k in "$D"/client.*.keyring "$D/mgr-x/keyring" "$D/osd-0/keyring"; do
      ceph-authtool "$D/mkfs.keyring" --import-keyring "$k" >/dev/null
    done
  )
  monmaptool --create --addv a "v1:127.0.0.1:$port" --fsid "$fsid" "$D/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/mkfs.keyring" -c "$D/ceph.conf" \
    2>>"$D/log/mon-mkfs.log" || die "ceph-mon --mkfs failed (log $D/log/mon-mkfs.log)"
  rm -f "$D/mkfs.keyring" "$D/monmap"
  [[ -f "$D/mon-a/keyring" ]] || die "ceph-mon --mkfs wrote no $D/mon-a/keyring"
  ceph-mon -i a -c "$D/ceph.conf" 2>>"$D/log/mon-start.log" || die "ceph-mon did not start (log $D/log/mon.a.log)"
  wait_for 30 "the monitor" ceph_admin mon stat --connect-timeout 5
  log "monitor up on 127.0.0.1:$port after $(elapsed)"
  ceph-mgr -i x -c "$D/ceph.conf" 2>>"$D/log/mgr-start.log" || die "ceph-mgr did not start (log $D/log/mgr.x.log)"

  local uuid id
  uuid="$(cat /proc/sys/kernel/random/uuid)"
  id="$(ceph_admin osd new "$uuid" 2>/dev/null)"
  [[ "$id" == 0 ]] || die "expected osd id 0, got '$id'"
  # The pools only need the monitor: made (one CLI process, commands on stdin) while the OSD
  # formats its store and boots.
  local pool batch=""
  for pool in "${POOLS[@]}"; do
    batch+="osd pool create $pool 8 8"$'\n'"osd pool application enable $pool rbd"$'\n'
  done
  ceph_admin <<<"$batch" >"$D/log/pools.log" 2>&1 &
  local pools_pid=$!
  ceph-osd -i 0 --mkfs --osd-uuid "$uuid" -c "$D/ceph.conf" >>"$D/log/osd-mkfs.log" 2>&1 \
    || die "ceph-osd --mkfs failed (log $D/log/osd-mkfs.log, $D/log/osd.0.log)"
  ceph-osd -i 0 -c "$D/ceph.conf" >>"$D/log/osd-start.log" 2>&1 \
    || die "ceph-osd did not start (log $D/log/osd.0.log)"
  log "OSD formatted and started after $(elapsed)"
  wait "$pools_pid" || die "creating the pools failed (log $D/log/pools.log)"
  [[ "$(ceph_admin osd pool ls 2>/dev/null | grep -cxE "$(IFS='|'; echo "${POOLS[*]}")")" == "${#POOLS[@]}" ]] \
    || die "pools missing after creation (log $D/log/pools.log)"
  log "pools made after $(elapsed)"
  wait_for 60 "the OSD to be up" osd_up
  log "OSD up after $(elapsed)"
  # rbd pool init writes to each pool: it waits for its placement groups to be active.
  local pids=()
  for pool in "${POOLS[@]}"; do
    rbd_admin pool init "$pool" & pids+=($!)
  done
  for id in "${pids[@]}"; do wait "$id" || die "rbd pool init failed"; done
  log "pools initialised after $(elapsed)"
  wait_for 60 "all placement groups to be active" pgs_active

  local keyrings="" sep=""
  for c in admin "${CLIENTS[@]}"; do
    keyrings+="$sep\"$c\": \"$D/client.$c.keyring\""
    sep=", "
  done
  cat >"$D/cluster.json" <<EOF
{
  "port": $port,
  "fsid": "$fsid",
  "conf": "$D/ceph.conf",
  "mon_host": "127.0.0.1:$port",
  "keyrings": {$keyrings},
  "pools": ["volumes", "images", "backups"]
}
EOF
  log "cluster $fsid ready in $(elapsed): mon 127.0.0.1:$port, pools ${POOLS[*]}, clients admin ${CLIENTS[*]}"
  echo "$D/ceph.conf"
}

stop() {
  D="${1:?usage: ceph-local.sh stop DIR}"
  [[ -d "$D" ]] || return 0
  D="$(cd "$D" && pwd)"
  local n pid pids=()
  for n in "${DAEMONS[@]}"; do
    pid="$(daemon_pid "$n")" || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$n:$pid")
  done
  [[ ${#pids[@]} -gt 0 ]] || return 0
  local t0=$SECONDS i left resent=""
  for ((i = 0; i < 100; i++)); do
    left=()
    for n in "${DAEMONS[@]}"; do daemon_pid "$n" >/dev/null && left+=("$n"); done
    [[ ${#left[@]} -eq 0 ]] && break
    # The OSD sometimes ignores the first SIGTERM while it is still booting: a second one.
    if [[ -z "$resent" && $i -eq 30 ]]; then
      for n in "${left[@]}"; do pid="$(daemon_pid "$n")" && kill -TERM "$pid" 2>/dev/null || true; done
      resent=1
    fi
    sleep 0.1
  done
  for n in "${DAEMONS[@]}"; do
    pid="$(daemon_pid "$n")" || continue
    log "$n (pid $pid) still running after 10s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 50; i++)); do
    [[ -z "$(running_daemons)" ]] && break
    sleep 0.1
  done
  log "stopped ${#pids[@]} daemons in $((SECONDS - t0))s"
}

status() {
  D="${1:?usage: ceph-local.sh status DIR}"
  [[ -f "$D/ceph.conf" ]] || die "no cluster in $D"
  D="$(cd "$D" && pwd)"
  local up
  up="$(running_daemons | tr '\n' ' ')"
  log "running daemons: ${up:-none}"
  [[ -n "$up" ]] || exit 1
  ceph_admin -s --connect-timeout 10 >&2 || exit 1
  daemon_pid mon.a >/dev/null && daemon_pid osd.0 >/dev/null || exit 1
}

python_shim() {
  local venv="${1:?usage: ceph-local.sh python-shim VENV}"
  [[ -x "$venv/bin/python" ]] || die "$venv is not a virtualenv (no bin/python)"
  install
  venv="$(cd "$venv" && pwd)"
  local site
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  local shim="$venv/debian-ceph" m
  mkdir -p "$shim"
  for m in "${SHIM_MODULES[@]}"; do ln -sfn "$DIST/$m" "$shim/$m"; done
  echo "$shim" >"$site/debian-ceph.pth"
  "$venv/bin/python" -c 'import rados, rbd' || die "rados/rbd still not importable in $venv (Debian's modules are built for CPython 3.11)"
  log "rados and rbd importable in $venv (through $site/debian-ceph.pth -> $shim)"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop "${2:?usage: ceph-local.sh stop DIR}" ;;
  status) status "${2:?usage: ceph-local.sh status DIR}" ;;
  python-shim) python_shim "${2:?usage: ceph-local.sh python-shim VENV}" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac

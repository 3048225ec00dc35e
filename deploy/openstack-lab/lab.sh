#!/usr/bin/env bash
# Real OpenStack (Keystone, Nova + Placement, Cinder, Neutron, Glance) on 127.0.0.1, for tests.
#
#   lab.sh install                  RabbitMQ from Debian (if missing), the lab virtualenv in
#                                   ~/.cache/lifeboat/openstack-lab-<hash> and its golden
#                                   databases; idempotent, a no-op when all are there
#   lab.sh start DIR [--name SITE] [--port-base N] [--volume-driver file|fake|rbd] [--ceph CEPHDIR]
#                [--timeout S] [--bare]
#                                   start a whole site in DIR (installs first if needed); writes
#                                   DIR/clouds.yaml with clouds SITE and SITE-admin. rbd: Cinder's
#                                   RBDDriver on the cluster of deploy/ceph/ceph-local.sh in CEPHDIR
#   lab.sh stop DIR                 stop the site in DIR (logs and data stay)
#   lab.sh status DIR               its processes and memory; exit 1 when one is down
#   lab.sh logs DIR [LINES]         print the end of every log of the site (for CI failures)
#   lab.sh venv                     print the lab virtualenv's path
#   lab.sh lock                     recompile requirements.lock from requirements.txt
#
# LIFEBOAT_CACHE overrides ~/.cache/lifeboat. See README.md beside this script.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${LIFEBOAT_CACHE:-${HOME:-/tmp}/.cache/lifeboat}"
PYTHON_VERSION=3.11
# Bump when the way the venv is built changes (2: bytecode compiled at install time).
VENV_FORMAT=2

log() { echo "lab: $*" >&2; }

# The virtualenv is keyed by everything installed into it; the golden copy also by the code that
# initialises and registers it.
venv_key() {
  (cd "$HERE" && { echo "$PYTHON_VERSION $VENV_FORMAT"; cat requirements.lock;
    find plugins -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*' -not -path '*/build/*' \
      | LC_ALL=C sort | xargs cat; }) | sha256sum | cut -c1-12
}
golden_key() {
  (cd "$HERE" && cat labgolden.py labkeystone.py labconf.py labsite.py) | sha256sum | cut -c1-12
}
CACHE="$CACHE_ROOT/openstack-lab-$(venv_key)"
VENV="$CACHE/venv"
GOLDEN="$CACHE/golden-$(golden_key)"

# One apt-get at a time from here: ci.sh starts two lab sites at once and each may need the same
# package (two installs at once: one fails on dpkg's lock). Whoever waited checks again first;
# apt itself also waits for dpkg's lock (another tool's apt) instead of failing at once.
APT_LOCK="${TMPDIR:-/tmp}/lifeboat-apt.lock"
APT=(apt-get -o DPkg::Lock::Timeout=600)

rabbitmq_installed() { [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && command -v epmd >/dev/null; }

install_rabbitmq() {
  rabbitmq_installed && return 0
  (
    flock -w 900 9 || exit 1
    rabbitmq_installed && exit 0
    log "installing rabbitmq-server from Debian"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    # Keep the package from starting a system-wide broker on 0.0.0.0: the lab starts its own.
    policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy"
      made_policy=1
    fi
    status=0
    DEBIAN_FRONTEND=noninteractive $sudo "${APT[@]}" install -y -q --no-install-recommends \
      rabbitmq-server >/dev/null 2>&1 || {
      $sudo "${APT[@]}" update -q >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $sudo "${APT[@]}" install -y -q --no-install-recommends \
          rabbitmq-server >/dev/null
    } || status=$?
    [[ -n "$made_policy" ]] && $sudo rm -f "$policy"
    exit $status
  ) 9>"$APT_LOCK" || { log "apt-get install rabbitmq-server failed"; exit 1; }
}

# What Cinder's RBD driver needs beside the venv: Debian's rados and rbd modules (only those,
# through deploy/ceph/ceph-local.sh python-shim) and qemu-img (Cinder inspects a Glance image
# with it before `rbd import` makes a volume of it).
install_rbd() {
  bash "$HERE/../ceph/ceph-local.sh" python-shim "$VENV"
  command -v qemu-img >/dev/null && return 0
  (
    flock -w 900 9 || exit 1
    command -v qemu-img >/dev/null && exit 0 # the other site installed it meanwhile
    log "installing qemu-utils from Debian (qemu-img, for volumes from images on RBD)"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends \
      qemu-utils >/dev/null 2>&1 || {
      $sudo "${APT[@]}" update -qq >/dev/null &&
        $sudo env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq \
          --no-install-recommends qemu-utils >/dev/null
    }
  ) 9>"$APT_LOCK" || { log "apt-get install qemu-utils failed"; exit 1; }
}

install_venv() {
  [[ -f "$CACHE/.complete" ]] && return 0
  local t0=$SECONDS
  log "building the lab virtualenv in $VENV"
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  # Install the plugins from a copy so that the build leaves nothing in the repository.
  cp -r "$HERE/plugins" "$CACHE/plugins-src"
  if command -v uv >/dev/null; then
    uv venv -q --python "$PYTHON_VERSION" --python-preference only-system "$VENV"
    # Compiled now: with PYTHONDONTWRITEBYTECODE set (as on these machines) every service start
    # would otherwise compile its imports again.
    uv pip install -q --compile-bytecode --python "$VENV/bin/python" -r "$HERE/requirements.lock"
    uv pip install -q --compile-bytecode --python "$VENV/bin/python" --no-deps "$CACHE/plugins-src"
  else
    "python$PYTHON_VERSION" -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$HERE/requirements.lock"
    "$VENV/bin/pip" install -q --no-deps "$CACHE/plugins-src"
    "$VENV/bin/python" -m compileall -q -j 0 "$VENV/lib" >/dev/null || true
  fi
  # Loads oslab_plugins.sqlite_immediate in every process of the venv (see that module).
  cp "$HERE/plugins/oslab_sqlite_immediate.pth" "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"
  touch "$CACHE/.complete"
  log "virtualenv ready in $((SECONDS - t0))s"
}

install_all() {
  install_rabbitmq
  install_venv
  "$VENV/bin/python" "$HERE/labctl.py" golden --venv "$VENV" --golden "$GOLDEN"
  # Drop what older versions of this script left (each virtualenv is ~400 MB).
  local old
  for old in "$CACHE_ROOT"/openstack-lab-* "$CACHE"/golden-*; do
    [[ -e "$old" && "$old" != "$CACHE" && "$old" != "$GOLDEN" ]] || continue
    log "removing stale $old"
    rm -rf "$old"
  done
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install)
    t0=$SECONDS
    install_all
    log "installed in $((SECONDS - t0))s: $CACHE"
    ;;
  start)
    [[ $# -ge 1 ]] || { echo "usage: lab.sh start DIR [--name SITE] [options]" >&2; exit 2; }
    install_all
    prev=""
    for arg in "$@"; do
      [[ "$arg" == --volume-driver=rbd || ("$prev" == --volume-driver && "$arg" == rbd) ]] && install_rbd
      prev="$arg"
    done
    exec "$VENV/bin/python" "$HERE/labctl.py" start --venv "$VENV" --golden "$GOLDEN" "$@"
    ;;
  stop | status)
    [[ $# -ge 1 ]] || { echo "usage: lab.sh $cmd DIR" >&2; exit 2; }
    # Stopping needs only the standard library: works even when the virtualenv was rebuilt.
    py="$VENV/bin/python"
    [[ -x "$py" ]] || py=python3
    exec "$py" "$HERE/labctl.py" "$cmd" "$1"
    ;;
  logs)
    [[ $# -ge 1 ]] || { echo "usage: lab.sh logs DIR [LINES]" >&2; exit 2; }
    for f in "$1"/logs/*.log; do
      [[ -f "$f" ]] || continue
      echo "===== $f (last ${2:-80} lines)"
      tail -n "${2:-80}" "$f"
    done
    ;;
  venv) echo "$VENV" ;;
  lock)
    # Resolving from scratch needs OpenStack's upper-constraints (with OpenStack's own
    # libraries unpinned) as -c; without it, the current lock is kept as the preference.
    uv pip compile -q --python-version "$PYTHON_VERSION" --python-platform x86_64-unknown-linux-gnu \
      --no-header --no-annotate "$@" "$HERE/requirements.txt" -o "$HERE/requirements.lock"
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# CI stage "real OpenStack": install the lab (cached) and Debian's Ceph, start two Ceph clusters
# and two sites whose Cinder runs on them (RBD), run the lab's smoke test and the cloud driver
# conformance suite against the first, then the two-site DR cycle (tests/lab) between them over
# the test command's Kafka and PostgreSQL; stop everything. On any failure the sites' logs are
# printed. Run from anywhere; uses the repository's uv workspace for the tests.
#   LAB_DIR     first site's folder (default: a new /tmp/lifeboat-oslab.XXXXXX; the second
#               site and the clusters use LAB_DIR-b, LAB_DIR-ceph-a, LAB_DIR-ceph-b)
#   LAB_SITE    first site's name (default: lab-a); LAB_SITE_B the second's (default: lab-b)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LAB="$HERE/lab.sh"
LAB_DIR="${LAB_DIR:-$(mktemp -d /tmp/lifeboat-oslab.XXXXXX)}"
LAB_SITE="${LAB_SITE:-lab-a}"
LAB_SITE_B="${LAB_SITE_B:-lab-b}"
t0=$SECONDS
stamp() { echo "openstack-lab: $1 at $((SECONDS - t0))s"; }

CEPH="$ROOT/deploy/ceph/ceph-local.sh"
bash "$LAB" install
bash "$CEPH" install
bash "$CEPH" python-shim "$ROOT/.venv"
stamp "installed"
# Two sites, each on its own Ceph cluster: lab-a (the protected site, where the smoke test and
# the conformance suite also run) and lab-b (its recovery site) for the two-site DR cycle.
B_DIR="${LAB_DIR}-b"
CEPH_A="${LAB_DIR}-ceph-a" CEPH_B="${LAB_DIR}-ceph-b"
cleanup() {
  bash "$LAB" stop "$LAB_DIR" || true
  bash "$LAB" stop "$B_DIR" || true
  bash "$CEPH" stop "$CEPH_A" || true
  bash "$CEPH" stop "$CEPH_B" || true
}
trap cleanup EXIT
bash "$CEPH" start "$CEPH_A" >/dev/null &
ceph_a=$!
bash "$CEPH" start "$CEPH_B" >/dev/null &
ceph_b=$!
wait $ceph_a && wait $ceph_b || { echo "openstack-lab: a Ceph cluster did not start" >&2; exit 1; }
stamp "two Ceph clusters up"
bash "$LAB" start "$LAB_DIR" --name "$LAB_SITE" --volume-driver rbd --ceph "$CEPH_A" &
site_a=$!
bash "$LAB" start "$B_DIR" --name "$LAB_SITE_B" --volume-driver rbd --ceph "$CEPH_B" &
site_b=$!
started=0
wait $site_a || started=1
wait $site_b || started=1
if [[ $started != 0 ]]; then
  bash "$LAB" logs "$LAB_DIR" 60
  bash "$LAB" logs "$B_DIR" 60
  exit 1
fi
stamp "sites $LAB_SITE and $LAB_SITE_B ready (Cinder on Ceph RBD)"
bash "$LAB" status "$LAB_DIR" | tail -1
bash "$LAB" status "$B_DIR" | tail -1

status=0
cd "$ROOT"
uv run python "$HERE/smoke.py" "$LAB_DIR/clouds.yaml" "$LAB_SITE" || status=1
stamp "smoke test done"
# test_faults.py injects faults through cloudsim's admin API; a real cloud cannot be told to fail
# on demand, so those tests are not collected here (rather than collected and skipped). The lab
# runs no cinder-backup (its os-brick attach wants sudo/rootwrap, not set up yet), so the Cinder
# backup round trip is tested against cloudsim only. The lab runs no Designate either: the DNS
# conformance tests (tests/conformance/test_dns.py) run against cloudsim only.
LIFEBOAT_CONFORMANCE_CLOUDS_YAML="$LAB_DIR/clouds.yaml" \
  LIFEBOAT_CONFORMANCE_CLOUD="$LAB_SITE" \
  LIFEBOAT_CONFORMANCE_ADMIN_CLOUD="$LAB_SITE-admin" \
  uv run pytest tests/conformance -q -p no:cacheprovider -rs \
    --ignore=tests/conformance/test_faults.py \
    --ignore=tests/conformance/test_dns.py \
    --deselect "tests/conformance/test_backups_extents.py::test_backups_incremental_export_import_restore[openstack]" \
    || status=1
stamp "conformance suite done"
LIFEBOAT_LAB_DR="{\"$LAB_SITE\": {\"dir\": \"$LAB_DIR\", \"ceph\": \"$CEPH_A\"}, \"$LAB_SITE_B\": {\"dir\": \"$B_DIR\", \"ceph\": \"$CEPH_B\"}}" \
  uv run pytest tests/lab -q -p no:cacheprovider -s || status=1
stamp "two-site DR cycle on Ceph done"
if [[ $status != 0 ]]; then
  bash "$LAB" logs "$LAB_DIR" 60
  bash "$LAB" logs "$B_DIR" 60
fi
exit $status

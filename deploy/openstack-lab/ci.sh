#!/usr/bin/env bash
# CI stage "real OpenStack": install the lab (cached), start one site, run the lab's smoke test
# and the cloud driver conformance suite against it, stop it. On any failure the site's logs
# are printed. Run from anywhere; uses the repository's uv workspace for the tests.
#   LAB_DIR   site folder (default: a new /tmp/lifeboat-oslab.XXXXXX)
#   LAB_SITE  site name (default: lab)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LAB="$HERE/lab.sh"
LAB_DIR="${LAB_DIR:-$(mktemp -d /tmp/lifeboat-oslab.XXXXXX)}"
LAB_SITE="${LAB_SITE:-lab}"
t0=$SECONDS
stamp() { echo "openstack-lab: $1 at $((SECONDS - t0))s"; }

bash "$LAB" install
stamp "installed"
trap 'bash "$LAB" stop "$LAB_DIR" || true' EXIT
if ! bash "$LAB" start "$LAB_DIR" --name "$LAB_SITE"; then
  bash "$LAB" logs "$LAB_DIR" 60
  exit 1
fi
stamp "site $LAB_SITE ready"
bash "$LAB" status "$LAB_DIR" | tail -1

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
if [[ $status != 0 ]]; then
  bash "$LAB" logs "$LAB_DIR" 60
fi
exit $status

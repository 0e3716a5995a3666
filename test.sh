#!/usr/bin/env bash
# Runs every test of the solution. Run as root on Debian/Ubuntu, it first installs what the tests need.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  # libtorch + glibc malloc grows memory every training step; tests run with jemalloc preloaded (tests/test.runsettings).
  ldconfig -p | grep -q 'libjemalloc.so.2' || missing+=(libjemalloc2)
  # The service's behaviour suite also runs against a real PostgreSQL and a real S3 server (Ceph RADOS Gateway).
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  command -v radosgw >/dev/null 2>&1 || missing+=(radosgw ceph-mon ceph-osd)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # Offline checks of the deployment files: docker-compose validates the compose file; Node.js runs the
  # Kubernetes/KEDA schema validation and dockerfilelint.
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  # The dashboard's browser tests drive Debian's chromium through Playwright (its own browser download fails here).
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif ! ldconfig -p 2>/dev/null | grep -q 'libjemalloc.so.2'; then
  echo "warning: libjemalloc2 is not installed; tests run on glibc malloc, slower (install it: apt-get install libjemalloc2)" >&2
fi

if [ ! -d tests/Pix2Pix.Deploy.Tests/tools/node_modules ] && command -v npm >/dev/null 2>&1; then
  (cd tests/Pix2Pix.Deploy.Tests/tools && npm ci --no-audit --no-fund --loglevel=error)
fi

exec dotnet test Pix2Pix.Service.sln -c Release "$@"

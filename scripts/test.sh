#!/usr/bin/env bash
# Builds OTS and runs every test suite.
#
# Installs what the tests need when it is missing: xmllint (results files
# are checked against the schema) and openssh-server (the runner's SSH
# target tests start a real sshd on a loopback port), and PostgreSQL for the
# storage contract and the farm tests (a throwaway cluster), and the Python
# packages that check API responses against the OpenAPI document and
# fuzz the APIs (schemathesis), and headless Chromium for the dashboard's
# tests, and qemu-system-x86 with the QEMU reference device (built once by
# scripts/build-qemu-device.sh into .build-qemu). Builds once, then runs
# the suites. Arguments go to `swift test`
# (for example --filter Runner).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh

if ! command -v xmllint >/dev/null 2>&1; then
    log "installing xmllint (libxml2-utils)"
    apt_install libxml2-utils
fi
if [ ! -x /usr/sbin/sshd ] || ! command -v scp >/dev/null 2>&1; then
    log "installing openssh-server and openssh-client"
    apt_install openssh-server openssh-client
fi

if ! command -v promtool >/dev/null 2>&1; then
    log "installing promtool (prometheus), which checks the monitor's /metrics"
    apt_install prometheus
fi
if ! python3 -c "import openapi_spec_validator, jsonschema" >/dev/null 2>&1; then
    log "installing the OpenAPI checker's Python packages"
    python3 -m pip install --quiet openapi-spec-validator jsonschema
fi
if ! command -v chromium >/dev/null 2>&1; then
    log "installing chromium, which the dashboard's tests drive headless"
    apt_install chromium
fi
if ! python3 -c "import websocket" >/dev/null 2>&1; then
    log "installing websocket-client, which scripts/cdp.py drives chromium with"
    python3 -m pip install --quiet websocket-client
fi
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    log "installing aiosmtpd, the SMTP server the e-mail tests send to"
    python3 -m pip install --quiet aiosmtpd
fi
if ! python3 -c "import schemathesis" >/dev/null 2>&1; then
    log "installing schemathesis, which fuzzes the server's and the monitor's APIs"
    python3 -m pip install --quiet "schemathesis==4.32.5"
fi

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    log "installing qemu-system-x86, which runs the QEMU reference device"
    apt_install qemu-system-x86
fi
# The QEMU device's kernel, firmware and images: built once from Debian's
# packages, kept in the ignored .build-qemu for later runs.
qemu_device=""
if command -v qemu-system-x86_64 >/dev/null 2>&1; then
    log "building the QEMU reference device (once; kept in .build-qemu)"
    if ./scripts/build-qemu-device.sh .build-qemu; then
        qemu_device="$PWD/.build-qemu"
    fi
fi

trap stop_postgres EXIT
start_postgres

log "building"
swift build --build-tests

bin_path="$(swift build --show-bin-path)"
export OTS_BINARY="$bin_path/ots"
export OTS_FORMATS_DIR="$PWD/formats"
if command -v xmllint >/dev/null 2>&1; then
    export OTS_REQUIRE_XMLLINT=1
fi
export OTS_REQUIRE_OPENAPI_CHECK=1
export OTS_REQUIRE_SCHEMATHESIS=1
export OTS_REQUIRE_AIOSMTPD=1
if command -v chromium >/dev/null 2>&1; then
    export OTS_REQUIRE_BROWSER=1
fi
if command -v promtool >/dev/null 2>&1; then
    export OTS_REQUIRE_PROMTOOL=1
fi
if command -v qemu-system-x86_64 >/dev/null 2>&1; then
    # Required once qemu is here: a device that failed to build fails its test.
    export OTS_REQUIRE_QEMU=1
    export OTS_QEMU_DEVICE_DIR="${qemu_device:-$PWD/.build-qemu}"
fi

log "running the tests"
# One test at a time: the end-to-end tests start real servers, workers,
# monitors, PostgreSQL clusters and a browser, and on two cores their
# leases and heartbeats do not survive running all at once.
swift test --skip-build --no-parallel "$@"

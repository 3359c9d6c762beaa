#!/bin/sh
# Generates configure and the Makefile templates from a fresh clone.
set -e
cd "$(dirname "$0")"
autoreconf -fi
# Unit tests speak TAP (cmocka's CMOCKA_MESSAGE_OUTPUT=TAP) so the test
# harness counts every test case, not every program; automake ships the
# driver but autoreconf does not install it.
for d in /usr/share/automake-*; do
    if [ -f "$d/tap-driver.sh" ]; then
        cp "$d/tap-driver.sh" build-aux/tap-driver.sh
        break
    fi
done
test -f build-aux/tap-driver.sh || {
    echo "autogen.sh: automake's tap-driver.sh not found" >&2
    exit 1
}

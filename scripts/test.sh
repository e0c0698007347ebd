#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm and run the whole test suite (unit and integration).
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
xfsm_install_deps
xfsm_build build
meson test -C build --print-errorlogs

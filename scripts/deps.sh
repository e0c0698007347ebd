# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the other scripts: install the Debian 12 packages xfsm builds
# and tests with, when run as root; otherwise check that they are there.

XFSM_BUILD_DEPS="gcc meson ninja-build pkg-config libyaml-dev libjson-c-dev libcmocka-dev libsystemd-dev zlib1g-dev libhiredis-dev libsodium-dev dbus-daemon libmicrohttpd-dev libgraphviz-dev"
# xfsm-http's tests: the dashboard in a real browser (test-http-browser),
# HTTPS with a certificate made by openssl and fetched by curl (test-http);
# each part is skipped without them
XFSM_HTTP_TEST_DEPS="chromium curl openssl"

xfsm_install_deps() {
        # $@: extra packages
        pkgs="$XFSM_BUILD_DEPS $*"
        missing=""
        for p in $pkgs; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
        done
        [ -z "$missing" ] && return 0
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "xfsm: installing Debian packages:$missing"
                export DEBIAN_FRONTEND=noninteractive
                apt-get install -y -qq $missing >/dev/null 2>&1 || {
                        apt-get update -qq >/dev/null
                        apt-get install -y -qq $missing >/dev/null
                }
        else
                echo "xfsm: missing Debian packages:$missing" >&2
                echo "xfsm: run this as root to install them, or: sudo apt-get install$missing" >&2
                exit 1
        fi
}

xfsm_build() {
        # $1: build directory; the rest: meson options
        dir=$1
        shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "$@" >/dev/null
        fi
        ninja -C "$dir" >/dev/null
}

# the distribution packages (packaging/): building the .deb (the rest of
# packaging/debian/control's Build-Depends come by apt-get build-dep in
# packaging/build-deb.sh), checking it, building the .rpm with Debian's rpm
XFSM_PACKAGING_DEPS="dpkg-dev debhelper fakeroot lintian rpm"

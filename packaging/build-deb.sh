#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm's Debian packages from the checkout this script sits in into
# OUTDIR, and print the files made. The build runs in a copy of the checkout
# (its tracked and untracked files, not its build directories), never in the
# tree itself; an OUTDIR inside the checkout is left out of the copy (the
# packages of an earlier build are not packaged again). Run as root, it first
# installs the build dependencies that packaging/debian/control names.
#
#   packaging/build-deb.sh OUTDIR
#
# DEB_BUILD_OPTIONS=nocheck skips the test suite. XFSM_DEB_VERSION=V builds
# version V instead of the one in packaging/debian/changelog (a changelog
# entry is added in the copy; the upgrade test uses it).
set -eu

case ${1:-} in
-h | --help)
        sed -n '3,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
        ;;
esac
[ $# = 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
# OUTDIR inside the checkout: its path there, left out of the copy
case $out/ in
"$src"/) echo "xfsm: OUTDIR is the checkout itself: give another directory" >&2; exit 2 ;;
"$src"/*) inside=${out#"$src"/} ;;
*) inside="" ;;
esac

work=$(mktemp -d /tmp/xfsm-build-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/xfsm

# ---- the copy ------------------------------------------------------------------
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # tracked and untracked files, not ignored ones (build directories);
        # a file deleted in the work tree but still in the index is skipped
        (cd "$src" && git ls-files -z --cached --others --exclude-standard -- . ${inside:+":(exclude,literal)$inside"}) |
                tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$tree" -xf -
else
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' ${inside:+--exclude="./$inside"} -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -a "$tree/packaging/debian" "$tree/debian"

if [ -n "${XFSM_DEB_VERSION:-}" ]; then
        {
                printf 'xfsm (%s) unstable; urgency=medium\n\n' "$XFSM_DEB_VERSION"
                printf '  * Rebuilt as version %s (packaging/build-deb.sh).\n\n' "$XFSM_DEB_VERSION"
                printf ' -- xfsm developers <xfsm@example.org>  %s\n\n' "$(date -R)"
                cat "$src/packaging/debian/changelog"
        } > "$tree/debian/changelog"
fi

# ---- the build dependencies ----------------------------------------------------------
if ! (cd "$tree" && dpkg-checkbuilddeps >/dev/null 2>&1); then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "xfsm: installing the build dependencies (apt-get build-dep)"
                export DEBIAN_FRONTEND=noninteractive
                apt-get build-dep -y -qq "$tree" >/dev/null 2>&1 || {
                        apt-get update -qq >/dev/null
                        apt-get build-dep -y -qq "$tree" >/dev/null
                }
        fi
        (cd "$tree" && dpkg-checkbuilddeps) || {
                echo "xfsm: run this as root to install them: sudo apt-get build-dep $src/packaging" >&2
                exit 1
        }
fi

# ---- the build -----------------------------------------------------------------------
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1); then
        tail -n 80 "$work/build.log" >&2
        echo "xfsm: dpkg-buildpackage failed (the log's end above)" >&2
        exit 1
fi
grep -E '^dpkg-(gensymbols|shlibdeps|genchanges): warning' "$work/build.log" >&2 || true

made=""
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes; do
        [ -e "$f" ] || continue
        cp "$f" "$out/"
        made="$made $out/${f##*/}"
done
for f in $made; do
        echo "$f"
done

#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm's rpm packages (packaging/rpm/xfsm.spec) from the checkout this
# script sits in into OUTDIR, and print the files made. The build runs from a
# copy of the checkout (a source tarball made of its tracked and untracked
# files, without an OUTDIR that lies inside the checkout), never in the tree
# itself.
#
#   packaging/build-rpm.sh OUTDIR
#
# On Fedora and its relatives (ID or ID_LIKE fedora in /etc/os-release)
# rpmbuild uses the system's macros and checks the BuildRequires; run as
# root, the script first installs them with `dnf builddep` on the spec (and
# says which command to run otherwise). On Debian (this is how CI builds it,
# on Debian 12 with Debian's rpm) the compiler flags, meson and systemd
# macros come from packaging/rpm/ci/macros.fedora and the build dependencies
# are not checked by rpm (--nodeps): run as root, the script installs their
# Debian equivalents (scripts/deps.sh) and rpm itself with apt-get.
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
# OUTDIR inside the checkout: its path there, left out of the source tarball
case $out/ in
"$src"/) echo "xfsm: OUTDIR is the checkout itself: give another directory" >&2; exit 2 ;;
"$src"/*) inside=${out#"$src"/} ;;
*) inside="" ;;
esac

work=$(mktemp -d /tmp/xfsm-build-rpm-XXXXXX)
trap 'rm -rf "$work"' EXIT
spec=$src/packaging/rpm/xfsm.spec
version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
top=$work/rpmbuild
mkdir -p "$top/SOURCES" "$top/SPECS" "$work/xfsm-$version"

# ---- the source tarball, from a copy ----------------------------------------------------------
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard -- . ${inside:+":(exclude,literal)$inside"}) |
                tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$work/xfsm-$version" -xf -
else
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' ${inside:+--exclude="./$inside"} -cf - . |
                tar -C "$work/xfsm-$version" -xf -
fi
tar -C "$work" -czf "$top/SOURCES/xfsm-$version.tar.gz" "xfsm-$version"
cp "$src/sysusers.d/xfsm.conf" "$top/SOURCES/xfsm.sysusers"
if [ -f "$src/sysusers.d/xfsm-http.conf" ]; then
        cp "$src/sysusers.d/xfsm-http.conf" "$top/SOURCES/xfsm-http.sysusers"
else
        : > "$top/SOURCES/xfsm-http.sysusers"
fi
cp "$spec" "$top/SPECS/"

set -- --define "_topdir $top"
[ -f "$src/daemon/http/meson.build" ] || set -- "$@" --without http

# ---- Fedora and its relatives: the BuildRequires by dnf builddep -----------------------------
fedora_like=no
if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        case " $(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}") " in
        *" fedora "*) fedora_like=yes ;;
        esac
fi
if [ $fedora_like = yes ]; then
        if [ "$(id -u)" = 0 ] && command -v dnf >/dev/null; then
                # the spec as rpmbuild reads it: its sources (the sysusers
                # files) in _topdir, xfsm-http's when it is built
                set -- --define "_topdir $top"
                [ -f "$src/daemon/http/meson.build" ] || set -- "$@" --define "_without_http --without-http"
                echo "xfsm: installing the build dependencies (dnf builddep)"
                dnf builddep -y -q "$@" "$top/SPECS/xfsm.spec" >/dev/null || {
                        echo "xfsm: dnf builddep failed (dnf-plugins-core gives it on dnf 4)" >&2
                        exit 1
                }
        fi
        set -- --define "_topdir $top"
        [ -f "$src/daemon/http/meson.build" ] || set -- "$@" --without http
        # not root: rpmbuild names what is missing
        command -v rpmbuild >/dev/null || {
                echo "xfsm: rpmbuild is missing: sudo dnf install rpm-build; sudo dnf builddep $spec" >&2
                exit 1
        }
# ---- elsewhere (Debian): the CI macros, the Debian build dependencies -------------------------
elif ! rpm --eval '%{?meson_build}' | grep -q meson || ! rpm --eval '%{?_unitdir}' | grep -q systemd; then
        if command -v dpkg-query >/dev/null; then
                . "$src/scripts/deps.sh"
                xfsm_install_deps rpm
                command -v rpmbuild >/dev/null || { echo "xfsm: rpmbuild is missing (apt-get install rpm)" >&2; exit 1; }
        fi
        set -- "$@" --load "$src/packaging/rpm/ci/macros.fedora" \
                --define "_xfsm_ci_dir $src/packaging/rpm/ci" --nodeps
fi

if ! rpmbuild "$@" -bb "$top/SPECS/xfsm.spec" > "$work/build.log" 2>&1; then
        tail -n 80 "$work/build.log" >&2
        echo "xfsm: rpmbuild failed (the log's end above)" >&2
        if [ $fedora_like = yes ] && [ "$(id -u)" != 0 ] && grep -q 'Failed build dependencies' "$work/build.log"; then
                echo "xfsm: run this as root to install them, or: sudo dnf builddep $spec" >&2
        fi
        exit 1
fi
grep -E '^(warning|Warning):' "$work/build.log" >&2 || true
find "$top/RPMS" -name '*.rpm' | sort | while read -r f; do
        cp "$f" "$out/"
        echo "$out/${f##*/}"
done

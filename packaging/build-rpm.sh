#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build xfsm's rpm packages (packaging/rpm/xfsm.spec) from the checkout this
# script sits in into OUTDIR, and print the files made. The build runs from a
# copy of the checkout (a source tarball made of its tracked and untracked
# files), never in the tree itself.
#
#   packaging/build-rpm.sh OUTDIR
#
# On Fedora and its relatives rpmbuild uses the system's macros and checks
# the BuildRequires. Elsewhere (this is how CI builds it, on Debian 12 with
# Debian's rpm) the meson and systemd macros come from
# packaging/rpm/ci/macros.fedora and the build dependencies are not checked
# by rpm (--nodeps): run as root, the script installs their Debian
# equivalents (scripts/deps.sh) and rpm itself.
set -eu

[ $# = 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

work=$(mktemp -d /tmp/xfsm-build-rpm-XXXXXX)
trap 'rm -rf "$work"' EXIT
spec=$src/packaging/rpm/xfsm.spec
version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
top=$work/rpmbuild
mkdir -p "$top/SOURCES" "$top/SPECS" "$work/xfsm-$version"

# ---- the source tarball, from a copy ----------------------------------------------------------
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
                tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$work/xfsm-$version" -xf -
else
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$work/xfsm-$version" -xf -
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

# ---- not on Fedora: the CI macros, the Debian build dependencies -------------------------------
if ! rpm --eval '%{?meson_build}' | grep -q meson || ! rpm --eval '%{?_unitdir}' | grep -q systemd; then
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
        exit 1
fi
grep -E '^(warning|Warning):' "$work/build.log" >&2 || true
find "$top/RPMS" -name '*.rpm' | sort | while read -r f; do
        cp "$f" "$out/"
        echo "$out/${f##*/}"
done

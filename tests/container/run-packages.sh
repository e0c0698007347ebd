#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages in a real systemd: a Debian 12 root file system
# (debootstrap, systemd, dbus and polkitd only: it never saw the build tree;
# cached in $XFSM_CONTAINER_CACHE/rootfs-packages), booted with
# systemd-nspawn, where tests/container/suite-packages.sh installs the
# packages with apt, runs the demo, upgrades them while instances live,
# removes and purges them.
#
#   tests/container/run-packages.sh SOURCE_DIR [OLD_DEBS NEW_DEBS]    (as root)
#
# Without OLD_DEBS and NEW_DEBS, both are built (packaging/build-deb.sh, the
# test suite not run again): NEW from SOURCE_DIR; OLD from the latest tag
# v* before HEAD (or, in a checkout without tags, the latest release recorded
# in packaging/releases), NEW then at HEAD's version if its changelog moved
# past the tag's, else at the tag's version +gitN. Until such a release
# exists, OLD is SOURCE_DIR as it is and NEW the same build with its
# version bumped (VERSION+next1), standing in for the next release.
#
# Exit 77 (skipped) where this machine cannot boot a container, saying why.
set -euo pipefail

src=$(cd "${1:-.}" && pwd)
cache=${XFSM_CONTAINER_CACHE:-/var/tmp/xfsm-container}
rootfs=$cache/rootfs-packages
state=$(mktemp -d /tmp/xfsm-packages-XXXXXX)
name=xfsm-pkg-$$
cg=nspawn-$name

. "$src/tests/container/lib.sh"
container_check_tools
# only what any Debian host with systemd has: apt must pull the rest
packages=systemd,systemd-sysv,libpam-systemd,dbus,polkitd
container_rootfs

leader() { container_leader "$state/nspawn.pid"; }
inside() { container_inside "$state/nspawn.pid" "$@"; }
stop() {
        container_stop "$state/nspawn.pid" "$cg"
        rm -rf "$state"
}
trap stop EXIT

# ---- the packages -------------------------------------------------------------------------------
version_of() { dpkg-parsechangelog -l "$1/packaging/debian/changelog" -S Version; }
if [ $# -ge 3 ]; then
        old=$(cd "$2" && pwd)
        new=$(cd "$3" && pwd)
else
        old=$state/old
        new=$state/new
        tag=""
        if git -C "$src" rev-parse --verify -q HEAD^ > /dev/null; then
                tag=$(git -C "$src" describe --tags --abbrev=0 --match 'v[0-9]*' HEAD^ 2> /dev/null || true)
                # no tag in this checkout: the releases recorded in packaging/releases (the latest one
                # whose commit this checkout has, before HEAD)
                if [ -z "$tag" ] && [ -f "$src/packaging/releases" ]; then
                        while read -r t c; do
                                case $t in '' | '#'*) continue ;; esac
                                if git -C "$src" merge-base --is-ancestor "$c" HEAD^ 2> /dev/null; then
                                        tag=$c
                                        say "release $t is commit $c (packaging/releases; no tag here)"
                                fi
                        done < "$src/packaging/releases"
                fi
        fi
        if [ -n "$tag" ] && git -C "$src" cat-file -e "$tag:packaging/build-deb.sh" 2> /dev/null; then
                say "building the packages of $tag (the release before HEAD)"
                mkdir -p "$state/old-src"
                git -C "$src" archive "$tag" | tar -C "$state/old-src" -xf -
                DEB_BUILD_OPTIONS=nocheck "$state/old-src/packaging/build-deb.sh" "$old" > /dev/null
                ov=$(version_of "$state/old-src")
                nv=$(version_of "$src")
                # HEAD's own version when its changelog moved past the tag's, else the tag's +gitN
                if ! dpkg --compare-versions "$nv" gt "$ov"; then
                        nv="$ov+git$(git -C "$src" rev-list --count "$tag..HEAD")"
                fi
                say "building HEAD's packages as $nv"
                XFSM_DEB_VERSION=$nv DEB_BUILD_OPTIONS=nocheck "$src/packaging/build-deb.sh" "$new" > /dev/null
        else
                say "no release tagged before HEAD: HEAD's packages, then HEAD's again with the version bumped"
                DEB_BUILD_OPTIONS=nocheck "$src/packaging/build-deb.sh" "$old" > /dev/null
                XFSM_DEB_VERSION="$(version_of "$src")+next1" DEB_BUILD_OPTIONS=nocheck \
                        "$src/packaging/build-deb.sh" "$new" > /dev/null
        fi
fi
say "old: $(cd "$old" && ls xfsm_*.deb); new: $(cd "$new" && ls xfsm_*.deb)"

# ---- boot, copy the packages in, run the suite -------------------------------------------------
# dbus-daemon, Debian's system bus (the root file system has no other)
container_boot "$state/nspawn.pid" "$cg" "$name" "$state/console.log"
st=$(timeout 60 nsenter -t "$L" -a systemctl is-system-running --wait 2>&1 || true)
say "booted (state $st)"
mkdir -p "$state/debs/old" "$state/debs/new"
cp "$old"/*.deb "$state/debs/old/"
cp "$new"/*.deb "$state/debs/new/"
cp "$src/tests/container/suite-packages.sh" "$state/debs/"
tar -C "$state/debs" -cf - . | inside bash -c 'mkdir -p /root/debs && tar -C /root/debs -xf -'
inside bash /root/debs/suite-packages.sh

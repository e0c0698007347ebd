#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks the rpm packages packaging/build-rpm.sh made (they cannot be
# installed into a Fedora here): the package split, each file where Fedora
# puts it (the paths are written here, not taken from the macros the build
# used), the configuration files, the scriptlets and the requirements.
#
#   packaging/rpm/check-rpm.sh RPMDIR
set -eu

dir=$1
fails=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
rpmof() { ls "$dir"/"$1"-[0-9]*.rpm 2>/dev/null | grep -v -e debuginfo -e debugsource | head -1; }

for p in xfsm xfsm-libs xfsm-devel xfsm-redis-bridge; do
        [ -n "$(rpmof "$p")" ] || { bad "no package $p in $dir"; exit 1; }
done
ok "the split: xfsm, xfsm-libs, xfsm-devel, xfsm-redis-bridge"

# has PACKAGE PATH...: every PATH in the package's file list
has() {
        p=$1
        shift
        list=$(rpm -qpl "$(rpmof "$p")")
        for f; do
                case $f in
                # compressed on Fedora (brp-compress), as they are here or not
                */man/*.gz) printf '%s\n' "$list" | grep -qxF -e "$f" -e "${f%.gz}" || bad "$p lacks $f" ;;
                *) printf '%s\n' "$list" | grep -qxF "$f" || bad "$p lacks $f" ;;
                esac
        done
}
before=$fails
has xfsm /usr/bin/xfsmctl /usr/libexec/xfsmd /usr/libexec/xfsm-exec \
        /usr/lib/systemd/system/xfsmd.service /usr/lib/systemd/system/xfsm@.service \
        /usr/lib/systemd/system/xfsm@.socket /usr/lib/systemd/system/xfsm-exec@.service \
        /usr/share/dbus-1/system-services/org.xfsm1.service /usr/share/dbus-1/system.d/org.xfsm1.conf \
        /usr/share/polkit-1/actions/org.xfsm1.policy /usr/share/polkit-1/rules.d/50-xfsm.rules \
        /usr/lib/sysusers.d/xfsm.conf /usr/lib/tmpfiles.d/xfsm.conf \
        /etc/xfsm /etc/xfsm/xfsm.conf /etc/xfsm/components /var/lib/xfsm /var/lib/xfsm-exec \
        /usr/share/bash-completion/completions/xfsmctl /usr/share/doc/xfsm/first-steps.md \
        /usr/share/man/man1/xfsmctl.1.gz /usr/share/man/man8/xfsmd.8.gz /usr/share/man/man8/xfsm-exec.8.gz \
        /usr/share/man/man5/xfsm.component.5.gz /usr/share/man/man5/xfsm.conf.5.gz
has xfsm-libs /usr/lib64/libxfsm.so.0
has xfsm-devel /usr/include/xfsm.h /usr/lib64/libxfsm.so /usr/lib64/pkgconfig/libxfsm.pc
has xfsm-redis-bridge /usr/libexec/xfsm-redis-bridge /usr/lib/systemd/system/xfsm-redis-bridge.service \
        /usr/share/dbus-1/system.d/org.xfsm1.Bridge.conf /etc/xfsm/bridge.conf \
        /usr/share/man/man8/xfsm-redis-bridge.8.gz
if [ -n "$(rpmof xfsm-http)" ]; then
        has xfsm-http /usr/libexec/xfsm-http /usr/lib/systemd/system/xfsm-http.service \
                /usr/lib/systemd/system/xfsm-http.socket /usr/lib/sysusers.d/xfsm-http.conf \
                /usr/share/polkit-1/rules.d/50-xfsm-http.rules /etc/xfsm/http.conf /usr/share/man/man8/xfsm-http.8.gz \
                /usr/share/doc/xfsm-http/examples/40-xfsm-http-write.rules.example
        rpm -qpc "$(rpmof xfsm-http)" | grep -qx /etc/xfsm/http.conf || bad "xfsm-http: http.conf is not a configuration file"
fi
[ $fails = $before ] && ok "each file where Fedora puts it (units in /usr/lib/systemd/system, /usr/libexec, /usr/lib64, sysusers.d, tmpfiles.d, polkit, dbus)"

# xfsm-http's polkit rules (the shipped one and the example) in xfsm-http
# only, as in the Debian packages; the main package holds xfsm's own
before=$fails
main=$(rpm -qpl "$(rpmof xfsm)")
for f in /usr/share/polkit-1/rules.d/50-xfsm-http.rules /usr/share/doc/xfsm/examples/40-xfsm-http-write.rules.example \
        /usr/share/doc/xfsm-http/examples/40-xfsm-http-write.rules.example; do
        if printf '%s\n' "$main" | grep -qxF "$f"; then
                bad "xfsm holds xfsm-http's $f"
        fi
done
has xfsm /usr/share/polkit-1/rules.d/50-xfsm.rules /usr/share/doc/xfsm/examples/60-xfsm-orderdesk.rules.example
[ $fails = $before ] && ok "polkit rules: xfsm's in xfsm, xfsm-http's (50-xfsm-http.rules, the write example) in xfsm-http"

all=$(for f in "$dir"/*.rpm; do case $f in *debuginfo* | *debugsource*) ;; *) rpm -qpl "$f" ;; esac; done)
wrong=$(printf '%s\n' "$all" | grep -e '^/lib/' -e '^/usr/lib/x86_64-linux-gnu' -e '^/usr/local' -e '^/usr/lib/libxfsm' || true)
[ -z "$wrong" ] && ok "no file under Debian's or /usr/local paths" || bad "files in paths Fedora does not use: $wrong"
bench=$(printf '%s\n' "$all" | grep -i bench || true)
[ -z "$bench" ] && ok "no benchmark program installed" || bad "benchmarks installed: $bench"
dup=$(printf '%s\n' "$all" | grep -v -e '^/etc/xfsm$' -e '^/usr/share/doc/xfsm' -e '^/usr/lib/.build-id' | sort | uniq -d)
[ -z "$dup" ] && ok "no file in two packages" || bad "files in two packages: $dup"
conf=$(rpm -qpc "$(rpmof xfsm)" "$(rpmof xfsm-redis-bridge)" | sort | tr '\n' ' ')
[ "$conf" = "/etc/xfsm/bridge.conf /etc/xfsm/xfsm.conf " ] && ok "configuration files: $conf" || bad "configuration files: $conf"
owner=$(rpm -qp --qf '[%{FILENAMES} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:perms}\n]' "$(rpmof xfsm)" | grep -e '^/var/lib/xfsm-exec ' -e '^/var/lib/xfsm ')
printf '%s\n' "$owner" | grep -qx '/var/lib/xfsm root:root drwxr-xr-x' &&
        printf '%s\n' "$owner" | grep -qx '/var/lib/xfsm-exec xfsm:xfsm drwxr-x---' &&
        ok "state directories: /var/lib/xfsm root 0755, /var/lib/xfsm-exec xfsm 0750" || bad "state directories: $owner"

# scriptlets: the user before the files, the units through systemd's helper,
# the running workers restarted on upgrade, stopped on erase
scripts=$(rpm -qp --scripts "$(rpmof xfsm)")
sect() { printf '%s\n' "$scripts" | awk -v s="$1" '/scriptlet \(using/ { on = ($1 == s) } on'; }
sect preinstall | grep -q "useradd -r -g 'xfsm' -d '/var/lib/xfsm'" || bad "%pre does not create the user xfsm"
sect postinstall | grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/xfsm.conf' || bad "%post does not run tmpfiles"
sect postinstall | grep -q 'systemd-update-helper install-system-units xfsmd.service' || bad "%post does not install xfsmd.service"
sect preuninstall | grep -q 'systemd-update-helper remove-system-units xfsmd.service' || bad "%preun does not remove xfsmd.service"
sect preuninstall | grep -q "systemctl stop 'xfsm@\*.socket' 'xfsm@\*.service'" || bad "%preun does not stop the workers"
sect postuninstall | grep -q 'mark-restart-system-units xfsmd.service' || bad "%postun does not restart xfsmd.service"
sect postuninstall | grep -q "systemctl try-restart 'xfsm@\*.service'" || bad "%postun does not restart the workers"
[ $fails = 0 ] && ok "scriptlets: user, tmpfiles, units through systemd-update-helper, workers restarted on upgrade and stopped on erase"
bscripts=$(rpm -qp --scripts "$(rpmof xfsm-redis-bridge)")
printf '%s\n' "$bscripts" | grep -q 'install-system-units xfsm-redis-bridge.service' &&
        ok "xfsm-redis-bridge: its unit through systemd-update-helper" || bad "xfsm-redis-bridge's scriptlets"

# requirements
req() { rpm -qp --requires "$(rpmof "$1")"; }
before=$fails
# (xfsmd and xfsmctl link the engine statically: no libxfsm.so.0)
for r in dbus polkit 'libsystemd.so.0()(64bit)' 'libyaml-0.so.2()(64bit)' 'libjson-c.so.5()(64bit)'; do
        req xfsm | grep -qxF "$r" || bad "xfsm does not require $r"
done
rpm -qp --requires "$(rpmof xfsm)" | grep -q '^systemd' || bad "xfsm does not require systemd for its scriptlets"
req xfsm-devel | grep -qE '^xfsm-libs\(x86-64\) = ' || bad "xfsm-devel does not require xfsm-libs"
req xfsm-redis-bridge | grep -qE '^xfsm\(x86-64\) = ' || bad "xfsm-redis-bridge does not require xfsm"
req xfsm-redis-bridge | grep -qxF 'libhiredis.so.0.14()(64bit)' || bad "xfsm-redis-bridge does not require libhiredis"
rpm -qp --provides "$(rpmof xfsm-libs)" | grep -qxF 'libxfsm.so.0()(64bit)' || bad "xfsm-libs does not provide libxfsm.so.0"
[ $fails = $before ] && ok "requirements: dbus, polkit, systemd and the shared libraries (xfsm); xfsm-libs of the same version (xfsm-devel); xfsm (the bridge)"

[ $fails = 0 ] || { echo "$fails checks failed"; exit 1; }
echo "# $n checks passed"

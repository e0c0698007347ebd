#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# For the test build of packaging/rpm/xfsm.spec on Debian (ci/macros.fedora):
# turns the u and g lines of sysusers.d files into the groupadd and useradd
# commands of a %pre scriptlet, as Fedora's sysusers.generate-pre.sh does.
for f; do
        awk '
        function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
        $1 == "g" { printf "getent group %s >/dev/null || groupadd -r %s || :\n", q($2), q($2) }
        $1 == "u" {
                name = $2
                gecos = ""
                home = "/"
                if (match($0, /"[^"]*"/)) {
                        gecos = substr($0, RSTART + 1, RLENGTH - 2)
                        rest = substr($0, RSTART + RLENGTH)
                        split(rest, r, " ")
                        if (r[1] != "" && r[1] != "-")
                                home = r[1]
                }
                printf "getent group %s >/dev/null || groupadd -r %s || :\n", q(name), q(name)
                printf "getent passwd %s >/dev/null || useradd -r -g %s -d %s -s /usr/sbin/nologin -c %s %s || :\n",
                        q(name), q(name), q(home), q(gecos), q(name)
        }' "$f"
done

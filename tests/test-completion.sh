#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion of xfsmctl (shell-completion/bash/xfsmctl) without a
# bus: verbs, options, the stems of the components in XFSM_COMPONENT_PATH,
# bridge sub-verbs, option values and YAML files. Components and instance
# ids asked of the bus are checked in a booted systemd
# (tests/container/suite-packages.sh).
set -eu
completion=$1
data=$2
. "$completion"
fails=0
# expect WORDS... -- WANT...: completing the last word gives exactly WANT
expect() {
        local -a words=()
        while [ "$1" != -- ]; do words+=("$1"); shift; done
        shift
        COMP_WORDS=("${words[@]}")
        COMP_CWORD=$((${#words[@]} - 1))
        COMPREPLY=()
        _xfsmctl || true # (compgen fails when nothing matches)
        local got want
        got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
        want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
        if [ "$got" != "$want" ]; then
                echo "not ok - '${words[*]}': got '$got', want '$want'"
                fails=$((fails + 1))
        else
                echo "ok - '${words[*]}' -> $want"
        fi
}
export XFSM_COMPONENT_PATH=$data:/nonexistent
# no bus here: the look-ups of components and instances find nothing
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent
expect xfsmctl "" -- list instances show history create send watch enable disable bridge validate graph simulate
expect xfsmctl s -- show send simulate
expect xfsmctl --no -- --no-ask-password
expect xfsmctl --json l -- list
expect xfsmctl --bus unix:path=/x en -- enable
expect xfsmctl enable t -- timers toggle
expect xfsmctl disable dur -- durable
expect xfsmctl enable durable "" --
expect xfsmctl bridge "" -- status dead release decommission
expect xfsmctl bridge dead "" -- list replay
expect xfsmctl graph --format "" -- dot mermaid
expect xfsmctl send --bus "" -- unix:path=
expect xfsmctl send C ID EVENT --p -- --payload
expect xfsmctl validate "$data/tog" -- "$data/toggle.yaml"
expect xfsmctl show Nothing "" --
[ $fails = 0 ] || exit 1

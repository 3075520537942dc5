#!/bin/sh
# keepalived's notify hook for a pair of havens (see keepalived.conf beside it): writes every VRRP
# transition into the local haven's event log as a note from "keepalived", so that
# `haven ctl events` (or `haven ctl --peers A,B events`) shows when and why the VIP moved, in
# the same log as the server state changes that caused it.
#
# keepalived runs it as
#   notify.sh [--haven PATH] [--admin URL] [--token-file FILE] TYPE NAME STATE PRIORITY
# where the options come from the `notify` line and the last four arguments from keepalived:
# TYPE is INSTANCE or GROUP, STATE one of MASTER, BACKUP, FAULT, STOP, DELETED.
#   --haven PATH       the haven binary (default /usr/local/bin/haven)
#   --admin URL        haven's admin listener (default http://127.0.0.1:9000)
#   --token-file FILE  a file holding the admin token, for an admin listener that has one
#                      (readable by keepalived's script_user, and by no one else)
#
# It never fails keepalived: a haven that is down (the very reason for a FAULT, often) or slow
# only costs a line in syslog; the hook always exits 0 within a few seconds.

haven=/usr/local/bin/haven
admin=http://127.0.0.1:9000
token_file=
while [ $# -gt 0 ]; do
    case $1 in
        --haven) [ $# -ge 2 ] || break; haven=$2; shift 2 ;;
        --admin) [ $# -ge 2 ] || break; admin=$2; shift 2 ;;
        --token-file) [ $# -ge 2 ] || break; token_file=$2; shift 2 ;;
        *) break ;;
    esac
done

type=${1:-?}
name=${2:-?}
state=${3:-?}
priority=${4:-}

message="$name is now $state on $(uname -n)"
[ -n "$priority" ] && message="$message (priority $priority)"
[ "$type" = GROUP ] && message="sync group $message"

if [ -n "$token_file" ] && [ -r "$token_file" ]; then
    HAVEN_ADMIN_TOKEN=$(cat "$token_file")
    export HAVEN_ADMIN_TOKEN
fi

# A haven that accepts but does not answer must not hold the hook (keepalived runs one per
# transition and they would pile up): bound it when coreutils' timeout is there.
bounded=
command -v timeout >/dev/null 2>&1 && bounded="timeout 5"

if ! error=$($bounded "$haven" ctl --admin "$admin" note keepalived "$message" 2>&1); then
    logger -t keepalived-notify "could not write to haven at $admin: $message: $error" 2>/dev/null
fi
exit 0

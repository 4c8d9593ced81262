#!/bin/sh
# Runs kintone-sync as the owner of the mounted project, so that the state it writes there
# (.kintone-sync/) belongs to you and stays writable: `docker run -v "$PWD:/project" ...`.
# Started as root (the image's default), it takes the uid and gid of the project directory and
# drops to them; a root-owned or unmounted directory gets the image's own user, uid 10001.
# Started with `--user UID:GID`, it runs as that user and changes nothing.
set -eu
project="${KINTONE_SYNC_PROJECT_DIR:-/project}"
program="${KINTONE_SYNC_PROGRAM:-kintone-sync}"
if [ "$(id -u)" != "0" ]; then
    exec "$program" "$@"
fi
uid="$(stat -c %u "$project")"
gid="$(stat -c %g "$project")"
if [ "$uid" = "0" ]; then
    uid=10001
    gid=10001
fi
HOME="$(getent passwd "$uid" | cut -d: -f6)"
export HOME="${HOME:-/tmp}"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$program" "$@"

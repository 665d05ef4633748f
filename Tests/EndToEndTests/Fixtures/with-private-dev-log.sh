#!/bin/sh
# Runs a command with a /dev/log of its own, in a private mount namespace
# (run it under `unshare -m`, as root): /dev becomes a tmpfs with null,
# zero, random, urandom and tty bound from the real one, and a syslog
# receiver (syslog-receiver.py) at /dev/log writes what arrives to LOG.
# Usage: with-private-dev-log.sh FOLDER LOG COMMAND...
set -e
folder=$1 log=$2
shift 2
here=$(dirname "$0")
mkdir -p "$folder/real-dev"
mount --bind /dev "$folder/real-dev"
mount -t tmpfs none /dev
for node in null zero random urandom tty; do
    if [ -e "$folder/real-dev/$node" ]; then touch "/dev/$node" && mount --bind "$folder/real-dev/$node" "/dev/$node"; fi
done
ln -s /proc/self/fd /dev/fd
python3 "$here/syslog-receiver.py" /dev/log "$log" &
tries=0
while [ ! -S /dev/log ] && [ $tries -lt 200 ]; do sleep 0.05; tries=$((tries + 1)); done
status=0
"$@" || status=$?
python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"END", "/dev/log")'
wait
exit $status

#!/bin/sh
# Entrypoint of the locally built Redis test image. Like the official image, "redis-server ARGS"
# or just "--option value …" runs the server reachable from outside the container (no protected
# mode) with those arguments; anything else is a command of its own.
set -eu
case "${1:-}" in -*) set -- redis-server "$@" ;; esac
if [ "${1:-redis-server}" = redis-server ]; then
	[ $# -gt 0 ] && shift
	mkdir -p /data
	chown redis:redis /data
	cd /data
	exec setpriv --reuid=redis --regid=redis --init-groups \
		redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
fi
exec "$@"

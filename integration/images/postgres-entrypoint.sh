#!/bin/sh
# Entrypoint of the locally built Postgres test image. It behaves like the official image's as far
# as tests can tell: POSTGRES_USER (default postgres), POSTGRES_PASSWORD and POSTGRES_DB (default
# the user) set up the first start, files in /docker-entrypoint-initdb.d run once, and the server
# prints "database system is ready to accept connections" twice: once for the initialisation run
# and once for real, which is what testcontainers' Postgres wait strategy counts.
set -eu
bin=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

# "postgres -c x=y" or just "-c x=y": run the server; anything else is a command of its own.
if [ "${1:-postgres}" = postgres ]; then
	[ $# -gt 0 ] && shift
elif [ "${1#-}" = "$1" ]; then
	exec "$@"
fi

user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "POSTGRES_PASSWORD is not set: the database would accept anyone; set it (the official image refuses too)" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
	chown postgres "$pwfile"
	as_postgres "$bin/initdb" --username="$user" --pwfile="$pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.auto.conf"

	# Initialisation run: local socket only, like the official image.
	as_postgres "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start
	if [ "$db" != postgres ]; then
		as_postgres psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres \
			-c "CREATE DATABASE \"$db\""
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sql) as_postgres psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -f "$f" ;;
		*.sh) . "$f" ;;
		esac
	done
	as_postgres "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" "$@"

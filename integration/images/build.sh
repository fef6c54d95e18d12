#!/usr/bin/env bash
# Builds the Postgres and Redis images the integration tests use on a machine with Docker but no
# container registry (air-gapped, or a registry mirror that serves Debian packages only).
#
#   integration/images/build.sh            # builds what is missing, prints the variables to export
#   integration/images/build.sh --force    # rebuilds both
#
# Both images come from one Debian bookworm root file system made by mmdebstrap from Debian's own
# packages (postgresql-15, redis-server), imported twice with `docker import`, each with an
# entrypoint that behaves like the official image's (see *-entrypoint.sh). Needs root (or a
# working user namespace), mmdebstrap and a running Docker engine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
postgres_image="${SWITCHBOARD_TEST_POSTGRES_IMAGE:-switchboard-test/postgres:15}"
redis_image="${SWITCHBOARD_TEST_REDIS_IMAGE:-switchboard-test/redis:7}"

have() { docker image inspect "$1" >/dev/null 2>&1; }
if [[ "${1:-}" != --force ]] && have "$postgres_image" && have "$redis_image"; then
	echo "images present: $postgres_image $redis_image" >&2
else
	command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install -y mmdebstrap" >&2; exit 1; }
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	cp "$here/postgres-entrypoint.sh" "$here/redis-entrypoint.sh" "$work/"
	echo "building a Debian root file system with postgresql-15 and redis-server…" >&2
	mmdebstrap --quiet --variant=minbase --include=postgresql-15,redis-server \
		--customize-hook="copy-in $work/postgres-entrypoint.sh $work/redis-entrypoint.sh /usr/local/bin/" \
		--customize-hook='rm -rf "$1"/var/lib/postgresql/15 "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
		bookworm "$work/rootfs.tar"
	docker import \
		--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change 'EXPOSE 5432' \
		"$work/rootfs.tar" "$postgres_image" >/dev/null
	docker import \
		--change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' \
		--change 'CMD ["redis-server"]' \
		--change 'EXPOSE 6379' \
		"$work/rootfs.tar" "$redis_image" >/dev/null
	echo "built $postgres_image and $redis_image" >&2
fi
echo "export SWITCHBOARD_TEST_POSTGRES_IMAGE=$postgres_image"
echo "export SWITCHBOARD_TEST_REDIS_IMAGE=$redis_image"

# strongbox container image: Node.js 24 LTS (slim), a non-root user, the newest pg_dump/pg_restore
# from the PostgreSQL project's apt repository (they dump every server from 9.2 on), age and zstd for
# hand restores, and tini as PID 1 so that SIGTERM reaches strongbox. Runs with a read-only root
# filesystem: mount the config at /etc/strongbox, and writable volumes at /tmp, /run/strongbox and
# /var/lib/strongbox (the differential state).
#   docker build -t strongbox:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp --tmpfs /run/strongbox -v strongbox-state:/var/lib/strongbox \
#     -v ./strongbox.yaml:/etc/strongbox/strongbox.yaml:ro strongbox:0.1.0 backup now
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY scripts/bundle.mjs scripts/bundle-base.mjs ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM ${NODE_IMAGE}
ARG PG_MAJOR=18
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl tini age zstd; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y curl; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 strongbox; \
    useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/strongbox --no-create-home --shell /usr/sbin/nologin strongbox; \
    install -d -o 10001 -g 10001 -m 0700 /var/lib/strongbox /run/strongbox; \
    install -d -m 0755 /etc/strongbox
COPY --from=build /src/package.json /opt/strongbox/package.json
COPY --from=build /src/node_modules /opt/strongbox/node_modules
COPY --from=build /src/dist /opt/strongbox/dist
COPY --from=build /src/bin /opt/strongbox/bin
COPY docker/entrypoint.sh /usr/local/bin/strongbox-entrypoint
RUN ln -s /opt/strongbox/bin/strongbox /usr/local/bin/strongbox
ENV STRONGBOX_CONFIG=/etc/strongbox/strongbox.yaml \
    TMPDIR=/tmp \
    NODE_ENV=production
USER 10001:10001
WORKDIR /var/lib/strongbox
VOLUME ["/var/lib/strongbox"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/strongbox-entrypoint"]
CMD ["daemon"]

# syntax=docker/dockerfile:1.7
# One Dockerfile for every Veche image (ADR 0008):
#   docker build --build-arg SERVICE=gateway --target service -t veche/gateway .   (any services/<name>)
#   docker build --target nginx -t veche/nginx .   (nginx with the built web client and the templates)
#   docker build --target postgres -t veche/postgres .   (PostgreSQL, its standby, backups, uploads sync)
# Node 24 runs the services' TypeScript directly (type stripping), so there is no compile step: the
# final stage holds the service's sources, the libs and production dependencies only.

ARG NODE_IMAGE=node:24.21.0-bookworm-slim
ARG NGINX_IMAGE=nginx:1.28.0-alpine
ARG PNPM_VERSION=12.21.0
ARG POSTGRES_IMAGE=postgres:15.13-bookworm

# ---- pnpm on Node 24 -------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS pnpm
ARG PNPM_VERSION
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH CI=true
RUN npm install --global --no-audit --no-fund "pnpm@${PNPM_VERSION}" && pnpm --version
WORKDIR /app

# ---- every package from the lockfile into the store (cached while the lockfile does not change) ---
FROM pnpm AS fetch
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json .npmrc ./
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm fetch --store-dir /pnpm/store

# ---- one service with its production dependencies -------------------------------------------------
FROM fetch AS service-build
ARG SERVICE
RUN test -n "${SERVICE}" || (echo 'build argument SERVICE is required (a folder of services/)' >&2; exit 1)
# The whole workspace (the .dockerignore keeps out dependencies, tests' output and secrets), so the
# frozen lockfile matches every importer; only this service and the libraries it needs are installed.
# The gateway's GSSAPI binding (kerberos) compiles against MIT Kerberos (issue 20): libkrb5-dev
# (headers, krb5-config), and node-gyp's python3, make and g++. It is built from source against the
# Node headers this image ships in /usr/local/include/node: no prebuilt binary is fetched from GitHub
# and no headers from nodejs.org, so the build needs no network beyond apt and the pnpm store.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libkrb5-dev g++ make python3 \
    && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true
COPY . .
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    PNPM_STORE_DIR=/pnpm/store scripts/deploy/image-install.sh "${SERVICE}"

FROM ${NODE_IMAGE} AS service
ARG SERVICE
# tini is PID 1: it forwards SIGTERM to Node (whose handlers stop gracefully) and reaps zombies.
# libgssapi-krb5-2 (with libkrb5-3 and libk5crypto3) is what the compiled binding links to at run time.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini libgssapi-krb5-2 \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    VECHE_HEALTH_PATH=/health \
    SERVICE_NAME=${SERVICE}
# Writable state (the chat's uploads volume) belongs to the unprivileged user; a new named volume
# copies this ownership on first mount.
RUN mkdir -p /var/lib/veche && chown node:node /var/lib/veche
WORKDIR /app
COPY --from=service-build /app/package.json /app/pnpm-workspace.yaml ./
COPY --from=service-build /app/node_modules/ node_modules/
COPY --from=service-build /app/libs/ libs/
COPY --from=service-build /app/services/${SERVICE}/ services/${SERVICE}/
WORKDIR /app/services/${SERVICE}
# A service that depends on the GSSAPI binding must load it here (a missing runtime library fails the
# build, not the first Kerberos login).
RUN node -e "if (require('./package.json').dependencies?.kerberos) require('kerberos')"
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+process.env.VECHE_HEALTH_PATH).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/server.ts"]

# ---- the web client ---------------------------------------------------------------------------------
FROM fetch AS web-build
ARG WEB_PACKAGE=@veche/web
COPY . .
RUN --mount=type=cache,id=pnpm-store,target=/pnpm/store \
    pnpm install --offline --frozen-lockfile --store-dir /pnpm/store --filter "${WEB_PACKAGE}..." \
    && pnpm --filter "${WEB_PACKAGE}" build

# ---- nginx: TLS edge, static web client, proxy to the stack ----------------------------------------
FROM ${NGINX_IMAGE} AS nginx
# openssl makes the temporary self-signed certificate nginx starts with before certbot's first one.
RUN apk add --no-cache openssl \
    && rm -f /etc/nginx/conf.d/default.conf \
    && mkdir -p /var/www/acme /etc/nginx/tls /etc/letsencrypt
COPY nginx/templates/ /etc/veche/nginx-templates/
COPY nginx/bin/ /usr/local/bin/
COPY nginx/docker-entrypoint.d/ /docker-entrypoint.d/
COPY --from=web-build /app/clients/web/dist/ /usr/share/veche/web/
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/nginx-health"]

# ---- PostgreSQL with its standby, off-site backups and the uploads sync (ADR 0012) ------------------
# One image for the roles `postgres`, `postgres-standby`, `backup`, `uploads-sync`, `uploads-mirror`.
# The official image has the PostgreSQL project's apt repository configured: its pgBackRest (2.46+)
# reaches an SFTP repository natively.
FROM ${POSTGRES_IMAGE} AS postgres
# /var/lib/veche/backup-metrics: the backup's metrics volume takes its owner when first mounted (the
# backup runs as postgres).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends pgbackrest restic openssh-client rsync lsyncd \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /etc/veche/postgres /opt/veche/scripts/replica /opt/veche/replica \
    && install -d -o postgres -g postgres /var/lib/veche/backup-metrics
COPY replica/conf/ /etc/veche/postgres/
COPY replica/bin/ /usr/local/bin/
COPY replica/initdb/ /docker-entrypoint-initdb.d/
# scripts/backup and scripts/restore-drill run from here, beside the files their library expects.
COPY replica/ /opt/veche/replica/
COPY scripts/replica/lib.sh /opt/veche/scripts/replica/lib.sh
COPY scripts/backup scripts/restore-drill /opt/veche/scripts/
ENTRYPOINT ["veche-pg-entrypoint"]
CMD ["postgres"]

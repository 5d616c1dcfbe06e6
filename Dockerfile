# testgen: one image for the API, the workers and the migration job (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite+aiosqlite:////data/testgen.db

# Runtime dependencies only (no dev extras); the source tree is not needed once installed.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && rm -rf /build

# A non-root user (uid and gid 10001, as the Kubernetes manifests' runAsUser) that owns /data, so a
# named volume mounted there starts out writable by it; /app/data points there too, so a DATABASE_URL
# or DATA_DIR relative to /app lands on the volume. Nothing else is written at run time: the containers
# can run on a read-only root filesystem with a writable /tmp.
RUN groupadd --system --gid 10001 testgen \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin testgen \
    && mkdir -p /data /app \
    && chown testgen:testgen /data \
    && ln -s /data /app/data

WORKDIR /app
COPY alembic.ini ./
COPY alembic ./alembic
COPY workers ./workers

# Numeric, so that Kubernetes can tell that it is not root (runAsNonRoot).
USER 10001:10001
EXPOSE 8000
# The default command is the API: healthy while /health answers (no I/O behind it). The worker's
# containers replace it with their own check (docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
CMD ["testgen", "api", "--host", "0.0.0.0", "--port", "8000"]

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

# A non-root user that owns /data, so a named volume mounted there starts out writable by it;
# /app/data points there too, so a DATABASE_URL or DATA_DIR relative to /app lands on the volume.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin testgen \
    && mkdir -p /data /app \
    && chown testgen:testgen /data \
    && ln -s /data /app/data

WORKDIR /app
COPY alembic.ini ./
COPY alembic ./alembic
COPY workers ./workers

USER testgen
EXPOSE 8000
CMD ["testgen", "api", "--host", "0.0.0.0", "--port", "8000"]

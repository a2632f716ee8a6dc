# The one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc pkg-config default-libmysqlclient-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
COPY scripts/requirements.py scripts/
RUN python scripts/requirements.py mysql > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt

COPY . .
# collectstatic needs settings that load; a throwaway key that never leaves this layer.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 app \
    && mkdir -p /app/var && chown app /app/var

USER app
EXPOSE 8000
# gthread workers, timeouts and the metrics hooks: config/gunicorn.py (its env variables).
CMD ["gunicorn", "--config", "config/gunicorn.py", "config.wsgi"]

# Voice Lab image: web (uvicorn), Celery workers and beat, and the TTS service all run from it.
# CPU-only torch: pass --build-arg PIP_EXTRA_INDEX_URL=<PyTorch's CPU wheel index> to avoid
# pulling the CUDA build; GPU machines build it as is.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VOICELAB_DATA_DIR=/data \
    VOICELAB_STATIC_ROOT=/app/staticfiles \
    VOICELAB_MODELS_DIR=/app/models \
    VOICELAB_DEPLOYED_VOICES_DIR=/data/deployed

# npm fetches the 54 stock voices (the kokoro-js package), gettext compiles the translations;
# espeak-ng is bundled by a wheel.
RUN apt-get update && apt-get install -y --no-install-recommends npm gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ARG PIP_EXTRA_INDEX_URL=""
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt

COPY . .
# The Kokoro model assets from the registries and the stock voices' index, baked into the image.
RUN python manage.py collectstatic --noinput --verbosity 0 \
    && python manage.py compilemessages --verbosity 0 \
    && python manage.py fetch_models --all-voices && python manage.py index_voices \
    && useradd --create-home --uid 1000 voicelab \
    && mkdir -p /data && chown voicelab /data
USER voicelab
VOLUME ["/data"]
EXPOSE 8000 8001

CMD ["sh", "-c", "python manage.py bootstrap && exec uvicorn voicelab.asgi:application --host 0.0.0.0 --port 8000 --lifespan off --ws websockets-sansio --no-server-header"]

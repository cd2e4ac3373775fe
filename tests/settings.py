"""The test suite's settings: the lab's own (``voicelab.settings``) with what a test run changes.

Files go under data/test-run (ignored by git), never into the checkout's data folder. Celery
and Channels work in this process only (a memory broker, the in-memory channel layer), so a
test needs no Redis; the tests that do (real workers, the lab's processes, channels_redis
itself) request the ``redis`` fixture of tests/conftest.py, which starts the embedded Redis
at ``REDIS_URL`` and points Celery at it and Channels at ``REDIS_CHANNEL_LAYERS``.
"""

from voicelab.embedded_redis import HOST, free_port
from voicelab.settings import *
from voicelab.settings import BASE_DIR, CHANNEL_LAYERS

TEST_RUN_DIR = BASE_DIR / "data" / "test-run"
MEDIA_ROOT = TEST_RUN_DIR / "media"
MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
# The TTS service's keys file and the lab's own key.
VOICELAB_TTS_KEYS_FILE = TEST_RUN_DIR / "tts-keys.json"
VOICELAB_TTS_LAB_KEY_FILE = TEST_RUN_DIR / "tts-lab-key"

# The session's embedded Redis, on a port free now (each pytest process has its own).
REDIS_URL = f"redis://{HOST}:{free_port()}/0"
REDIS_DIR = TEST_RUN_DIR / "redis"
CELERY_BROKER_URL = "memory://"
# Only read for a task that keeps its result, which only a real worker writes.
CELERY_RESULT_BACKEND = REDIS_URL
# The lab's layer and its connection options, on this Redis.
_lab_layer = CHANNEL_LAYERS["default"]
REDIS_CHANNEL_LAYERS = {
    "default": {
        **_lab_layer,
        "CONFIG": {**_lab_layer["CONFIG"], "hosts": [{**_lab_layer["CONFIG"]["hosts"][0], "address": REDIS_URL}]},
    }
}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

import os

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voicelab.engine.assets import require
from voicelab.engine.errors import EngineError
from voicelab.engine.synthesis import SynthesisConfig, SynthesisPool
from voicelab.engine.tts_app import create_app
from voicelab.engine.tts_keys import KeyRing
from voicelab.engine.tts_service import ServiceLimits, TTSService


class Command(BaseCommand):
    help = (
        "Serve the Kokoro TTS service (POST /v1/audio/speech and GET /v1/audio/voices in OpenAI's shape, "
        "POST /synthesize, POST /set_voice?style=…, GET /voices, POST /reload, GET /health) with the "
        "deployed voices, or a stock voice until one is deployed. "
        "Every route but /health needs an API key: one published to VOICELAB_TTS_KEYS_FILE by the lab, "
        "or VOICELAB_TTS_API_KEY (an operator key)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("VOICELAB_TTS_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.VOICELAB_TTS_PORT)
        parser.add_argument("--voice", default=settings.KOKORO_FALLBACK_VOICE, help="Stock voice before a deploy.")

    def handle(self, *args: object, host: str, port: int, voice: str, **options: object) -> None:
        try:
            limits = ServiceLimits.from_environ(os.environ)
            # One single-thread process per core on a CPU (the measured default), one on a GPU.
            config = SynthesisConfig.for_device(throughput=True)
            assets = require(settings.VOICELAB_MODELS_DIR, need_torch=config.backend == "torch")
            service = TTSService(
                pool=SynthesisPool(assets, config),
                assets=assets,
                environ=os.environ,
                env_file=settings.VOICELAB_ENV_FILE,
                fallback_voice=voice,
            )
        except EngineError as exc:
            raise CommandError(str(exc)) from None
        keys = KeyRing(settings.VOICELAB_TTS_KEYS_FILE, operator_key=settings.VOICELAB_TTS_API_KEY)
        self.stdout.write(
            f"Kokoro TTS ({config.backend}, {config.device}, {config.processes} worker(s)) on http://{host}:{port}/, "
            f"keys from {keys.path}, {limits.waiting} requests may wait, each answered within {limits.timeout:g} s"
        )
        uvicorn.run(create_app(service, keys=keys, limits=limits), host=host, port=port, log_level="info")

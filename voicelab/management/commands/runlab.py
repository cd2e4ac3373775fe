import os
import shlex
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from honcho.manager import Manager

from distillation.engine.assets import ModelAssets
from voicelab import embedded_redis


class Command(BaseCommand):
    help = (
        "Start the whole lab: the embedded Redis (unless REDIS_URL is set), two Celery workers, the "
        "ASGI server and the Kokoro TTS service, after migrating and loading the corpus. "
        "Ctrl-C stops everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("VOICELAB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("VOICELAB_PORT", "8000")))
        parser.add_argument(
            "--concurrency",
            type=int,
            default=int(os.environ.get("VOICELAB_WORKER_CONCURRENCY", "2")),
            help="Celery worker processes (default 2: one per core of a small machine).",
        )

    def handle(self, *args: object, host: str, port: int, concurrency: int, **options: object) -> None:
        call_command("bootstrap", stdout=self.stdout, stderr=self.stderr)
        call_command("collectstatic", interactive=False, verbosity=0)
        manager = Manager()
        python = shlex.quote(sys.executable)
        if settings.EMBEDDED_REDIS:
            if embedded_redis.port_in_use(settings.VOICELAB_REDIS_PORT):
                raise CommandError(
                    f"Port {settings.VOICELAB_REDIS_PORT} is taken (another lab running?). "
                    "Stop it, or set VOICELAB_REDIS_PORT to a free port."
                )
            command = embedded_redis.server_command(
                port=settings.VOICELAB_REDIS_PORT, data_dir=settings.DATA_DIR / "redis"
            )
            (settings.DATA_DIR / "redis").mkdir(parents=True, exist_ok=True)
            manager.add_process("redis", shlex.join(command), quiet=True)
        manager.add_process("web", f"{python} -m daphne -b {shlex.quote(host)} -p {port} voicelab.asgi:application")
        celery = f"{python} -m celery -A voicelab worker --loglevel INFO"
        manager.add_process("worker", f"{celery} --hostname labeling@%h --concurrency {concurrency} --queues celery")
        # One walk at a time, in the worker's own process: a walk already spreads its
        # candidates over every core (SynthesisPool), and a solo worker that dies takes its
        # walk with it, to be resumed from the checkpoint when it starts again.
        manager.add_process("distiller", f"{celery} --hostname distillation@%h --pool solo --queues distillation")
        missing = ModelAssets(settings.VOICELAB_MODELS_DIR).missing()
        if missing:
            self.stderr.write(
                self.style.WARNING(
                    f"Kokoro TTS not started: {', '.join(missing)} missing. Run `python manage.py fetch_models`."
                )
            )
        else:
            manager.add_process("tts", f"{python} manage.py runtts --port {settings.VOICELAB_TTS_PORT}")
        self.stdout.write(self.style.SUCCESS(f"Voice Lab: http://{host}:{port}/  (Ctrl-C to stop)"))
        manager.loop()
        sys.exit(manager.returncode)

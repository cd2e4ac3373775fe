import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voicelab import embedded_redis, supervision
from voicelab.engine import numba_cache
from voicelab.engine.assets import ModelAssets


class Command(BaseCommand):
    help = (
        "Start the whole lab under supervisord: the embedded Redis (unless REDIS_URL is set), the "
        "ASGI server, two Celery workers, the periodic sweeps and the Kokoro TTS service, after "
        "migrating and loading the corpus. A process that dies is started again; Ctrl-C stops everything."
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
        if settings.EMBEDDED_REDIS and embedded_redis.port_in_use(settings.VOICELAB_REDIS_PORT):
            raise CommandError(
                f"Port {settings.VOICELAB_REDIS_PORT} is taken (another lab running?). "
                "Stop it, or set VOICELAB_REDIS_PORT to a free port."
            )
        call_command("bootstrap", stdout=self.stdout, stderr=self.stderr)
        call_command("collectstatic", interactive=False, verbosity=0)
        data_dir = settings.DATA_DIR
        processes = supervision.lab_processes(
            host=host,
            port=port,
            concurrency=concurrency,
            data_dir=data_dir,
            redis_port=settings.VOICELAB_REDIS_PORT if settings.EMBEDDED_REDIS else None,
            tts_port=self._tts_port(),
        )
        if settings.EMBEDDED_REDIS:
            (data_dir / "redis").mkdir(parents=True, exist_ok=True)
        config = supervision.write_config(
            data_dir / "run" / "supervisord.conf", processes, data_dir=data_dir, directory=settings.BASE_DIR
        )
        self.stdout.write(
            self.style.SUCCESS(f"Voice Lab: http://{host}:{port}/  (Ctrl-C to stop)")
            + f"\n  logs: {data_dir / 'logs'}/<process>.log; one process alone: "
            f"{' '.join(supervision.supervisorctl_argv(config, 'restart', 'web'))}"
        )
        self.stdout.flush()
        argv = supervision.supervisord_argv(config)
        numba_cache.release()  # its children claim their own slots
        os.execv(argv[0], argv)  # supervisord takes over this process: Ctrl-C reaches it

    def _tts_port(self) -> int | None:
        missing = ModelAssets(settings.VOICELAB_MODELS_DIR).missing()
        if not missing:
            return settings.VOICELAB_TTS_PORT
        self.stderr.write(
            self.style.WARNING(
                f"Kokoro TTS not started: {', '.join(missing)} missing. Run `python manage.py fetch_models`."
            )
        )
        return None

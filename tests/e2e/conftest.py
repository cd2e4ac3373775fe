"""End-to-end set-up: the real lab processes around the test database, and a real Chromium.

Once per session: a Celery worker and the ASGI server, started as the lab
starts them, on the embedded Redis of ``tests/conftest.py`` (every test here runs with
the ``redis`` fixture, so this process talks to them through it too) and on the on-disk
SQLite test database (so they see what a transactional test commits), with a
private media folder. Browser tests get a fresh Chromium context per test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django import Settings

from . import processes
from .lab import ANNOTATOR_PASSWORD, OPERATOR_PASSWORD
from .processes import LabProcess

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from playwright.sync_api import Browser

    from labeling.models import StyleLabel
    from tests.conftest import SessionRedis

    from .workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A microphone that plays a WAV file and needs no permission prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
# Django refuses ORM calls while an asyncio loop runs in the thread. Playwright's sync
# API keeps its loop in another greenlet of the main thread, so the check misfires for
# the (synchronous) database calls the browser tests make between page actions.
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
PAGE_TIMEOUT_MS = 20_000  # for any one thing a page is expected to show or do


# The processes started this session, whose logs a failing test's report shows.
_STARTED: list[LabProcess] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed:
        for process in _STARTED:
            report.sections.append((f"{process.name} log (end)", process.tail()))
        workspace = getattr(item, "funcargs", {}).get("workspace")
        if workspace is not None and workspace.js_errors:
            report.sections.append(("browser JavaScript errors", "\n".join(workspace.js_errors)))
    return report


# ---- the lab's processes ------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _redis(redis: SessionRedis) -> SessionRedis:
    """The lab's processes talk through Redis, and so does this process with them."""
    return redis


@pytest.fixture(scope="session")
def e2e_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MEDIA_ROOT shared by this process, the worker and the server; fresh each session."""
    return tmp_path_factory.mktemp("e2e-media")


@pytest.fixture(autouse=True)
def _shared_media(settings: Settings, e2e_media: Path) -> Iterator[None]:
    """Point this process at the shared media folder, and empty it after each test (as the database is)."""
    settings.MEDIA_ROOT = e2e_media
    yield
    for entry in e2e_media.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


@pytest.fixture
def media_root(e2e_media: Path) -> Path:
    """Takes made by fixtures go where the worker and the server read them."""
    return e2e_media


@pytest.fixture(scope="session")
def e2e_distillation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Where the session's runs, deployed voices and .env live, the TTS service's URL
    (started only by the tests that need it, see ``tts_service``) and its keys: the same
    settings for this process and the lab's."""
    from voicelab.embedded_redis import HOST, free_port

    root = tmp_path_factory.mktemp("e2e-distillation")
    return {
        "VOICELAB_RUNS_DIR": str(root / "runs"),
        "VOICELAB_DEPLOYED_VOICES_DIR": str(root / "deployed"),
        "VOICELAB_ENV_FILE": str(root / ".env"),
        "VOICELAB_TTS_URL": f"http://{HOST}:{free_port()}",
        "VOICELAB_TTS_KEYS_FILE": str(root / "tts-keys.json"),
        "VOICELAB_TTS_LAB_KEY_FILE": str(root / "tts-lab-key"),
    }


@pytest.fixture(autouse=True)
def _distillation_settings(
    settings: Settings, e2e_distillation: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run takes its settings from the process that launches it: the test, for some.
    monkeypatch.setenv("VOICELAB_DISTILLATION_ALPHAS", "0")
    monkeypatch.setenv("VOICELAB_DISTILLATION_OPTIMIZER", "walk")  # seconds a step: the gradient is tested elsewhere
    for name, value in e2e_distillation.items():
        setattr(settings, name, value if name.endswith("_URL") else Path(value))


@pytest.fixture(scope="session")
def lab_env(
    django_db_setup: None, redis_server: SessionRedis, e2e_media: Path, e2e_distillation: dict[str, str]
) -> dict[str, str]:
    """The environment of the lab's subprocesses: the test database, Redis and media of this session."""
    from django.db import connection

    env = {
        **os.environ,
        **e2e_distillation,
        "DJANGO_SETTINGS_MODULE": "voicelab.settings",
        "DATABASE_URL": _test_database_url(connection.settings_dict),
        "REDIS_URL": redis_server.url,
        "VOICELAB_MEDIA_ROOT": str(e2e_media),
        "VOICELAB_DISTILLATION_ALPHAS": "0",  # a start-point search the suite can afford
        "VOICELAB_DISTILLATION_OPTIMIZER": "walk",  # seconds a step: the gradient is tested elsewhere
        # A take queued this long ago and still pending is queued again by the sweep (the lab: minutes).
        "VOICELAB_PENDING_REQUEUE_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop(ASYNC_UNSAFE, None)
    return env


def _test_database_url(db: dict) -> str:
    """The URL of the test database as this process sees it (SQLite file or PostgreSQL)."""
    if db["ENGINE"].endswith("sqlite3"):
        database = Path(db["NAME"]).resolve()
        assert database.is_file(), f"the test database must be a file the subprocesses can open, not {database}"
        return f"sqlite:///{database}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the worker and the server log (their ends are added to failing tests' reports)."""
    return tmp_path_factory.mktemp("e2e-logs")


class Worker:
    """A Celery worker (solo pool) as ``runlab`` starts one, on the given queues; a test may
    freeze or kill it (SIGKILL) and start it again under the same name."""

    def __init__(self, name: str, queues: str, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.queues, self.env, self.log_dir = name, queues, env, log_dir
        self.hostname = f"{name}-{os.getpid()}@localhost"
        self.process: LabProcess | None = None
        self.starts = 0

    def start(self) -> None:
        from voicelab.celery import app

        self.starts += 1
        arguments = [
            "-m",
            "celery",
            "-A",
            "voicelab",
            "worker",
            "--pool",
            "solo",
            "--queues",
            self.queues,
            "--loglevel",
            "INFO",
            "--hostname",
            self.hostname,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self.process = processes.start(f"{self.name}-{self.starts}", arguments, env=self.env, log_dir=self.log_dir)
        _STARTED.append(self.process)
        # Generous: a loaded 2-core machine has taken more than 60 s to start a worker.
        self.process.wait_ready(lambda: bool(app.control.ping(destination=[self.hostname], timeout=0.5)), timeout=180)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.popen.send_signal(number)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, as when a machine loses power."""
        self.signal(signal.SIGKILL)
        self.process.popen.wait(timeout=10)

    def ensure_running(self) -> LabProcess:
        if self.process is None or self.process.popen.poll() is not None:
            self.start()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="session")
def labeling_worker(lab_env: dict[str, str], process_logs: Path) -> Iterator[Worker]:
    """The validation worker (``celery`` queue), started by the tests that need it."""
    worker = Worker("worker", "celery", lab_env, process_logs)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_worker(labeling_worker: Worker) -> LabProcess:
    """The validation worker, running (started again if an earlier test killed it)."""
    return labeling_worker.ensure_running()


@pytest.fixture(scope="session")
def distiller(lab_env: dict[str, str], process_logs: Path, kokoro_assets) -> Iterator[Worker]:
    worker = Worker("distiller", "distillation", lab_env, process_logs)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def running_distiller(distiller: Worker) -> Worker:
    distiller.ensure_running()
    return distiller


@pytest.fixture
def beat(lab_env: dict[str, str], process_logs: Path, tmp_path: Path) -> Iterator[LabProcess]:
    """celery beat as ``runlab`` starts it, its sweeps every 2 s instead of every minute."""
    from voicelab.supervision import celery_argv

    arguments = celery_argv("beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "celerybeat-schedule"))[1:]
    process = processes.start("beat", arguments, env={**lab_env, "VOICELAB_SWEEP_SECONDS": "2"}, log_dir=process_logs)
    _STARTED.append(process)
    try:
        process.wait_ready(lambda: "Sending due task" in process.tail(200), timeout=120)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def tts_service(
    lab_env: dict[str, str], e2e_distillation: dict[str, str], process_logs: Path, kokoro_assets
) -> Iterator[str]:
    """``manage.py runtts`` on the port the lab's settings name, reading the session's .env
    and the keys the lab publishes (the lab's own key among them, made on its first call)."""
    port = e2e_distillation["VOICELAB_TTS_URL"].rsplit(":", 1)[1]
    server = processes.start(
        "runtts", ["manage.py", "runtts", "--port", port], env={**lab_env, "KOKORO_THREADS": "1"}, log_dir=process_logs
    )
    _STARTED.append(server)
    try:
        server.wait_ready(lambda: processes.http_ok(f"{e2e_distillation['VOICELAB_TTS_URL']}/health"), timeout=90)
        yield e2e_distillation["VOICELAB_TTS_URL"]
    finally:
        server.stop()


@pytest.fixture(scope="session")
def web_server(lab_env: dict[str, str], process_logs: Path) -> Iterator[tuple[LabProcess, str]]:
    """The lab's ASGI server (HTTP and websockets), as ``runlab`` starts it, on a free port;
    yields the process and its base URL."""
    from voicelab.embedded_redis import HOST, free_port
    from voicelab.supervision import web_argv

    port = free_port()
    base_url = f"http://{HOST}:{port}"
    # As runlab does: with DEBUG off, WhiteNoise serves the collected files only.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=processes.ROOT,
        env=lab_env,
        check=True,
    )
    server = processes.start("web", web_argv(host=HOST, port=port)[1:], env=lab_env, log_dir=process_logs)
    _STARTED.append(server)
    try:
        server.wait_ready(lambda: processes.http_ok(f"{base_url}/accounts/login/"), timeout=90)
        yield server, base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def asgi_server(web_server: tuple[LabProcess, str]) -> str:
    """The base URL of the lab's ASGI server."""
    return web_server[1]


# ---- data ---------------------------------------------------------------------------------
def _with_password(user: User, password: str) -> User:
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def lab_annotator(annotator: User) -> User:
    """The annotator of tests/conftest.py, with a password this suite types into the login form."""
    return _with_password(annotator, ANNOTATOR_PASSWORD)


@pytest.fixture
def lab_operator(operator: User) -> User:
    """The operator of tests/conftest.py, with a password this suite types into the login form."""
    return _with_password(operator, OPERATOR_PASSWORD)


@pytest.fixture
def label(corpus: None, lab_annotator: User) -> Callable[[str, str], StyleLabel]:
    """``label(sentence_id, style)``: label a sentence as the annotator, committed for the other processes."""
    from labeling.models import Sentence
    from labeling.services.labels import set_style_label

    def make(sentence_id: str, style: str) -> StyleLabel:
        return set_style_label(sentence=Sentence.objects.get(sentence_id=sentence_id), style=style, user=lab_annotator)

    return make


@pytest.fixture
def wav_upload(espeak_wav: Callable[..., Path]) -> Callable[..., SimpleUploadedFile]:
    """``wav_upload(text=..., name=...)``: espeak-ng speech as the upload a view would receive."""

    def make(*args: object, name: str = "take.wav", **kwargs: object) -> SimpleUploadedFile:
        return SimpleUploadedFile(name, espeak_wav(*args, **kwargs).read_bytes(), content_type="audio/wav")

    return make


# ---- the browser --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(espeak_wav: Callable[..., Path]) -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright; its fake microphone speaks an espeak-ng WAV.

    Module-scoped so Playwright's loop, and the Django setting that tolerates it, end
    with the browser tests instead of lasting for the rest of the session.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); browser tests need it.")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    microphone = f"--use-file-for-fake-audio-capture={espeak_wav()}"
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, microphone])
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def workspace(browser: Browser, asgi_server: str) -> Iterator[Workspace]:
    """A fresh browser context on the lab (no cookies), wrapped in the workspace page object."""
    from playwright.sync_api import expect

    from .workspace import WS_SPY_SCRIPT, Workspace

    # Generous: what a page shows next may wait on a busy two-core machine's other processes.
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    context = browser.new_context(base_url=asgi_server, viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["microphone"], origin=asgi_server)
    context.add_init_script(WS_SPY_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield Workspace(page)
    finally:
        context.close()


@pytest.fixture
def annotator_workspace(workspace: Workspace, corpus: None, lab_annotator: User) -> Workspace:
    """The workspace after the annotator logged in through the login form."""
    workspace.log_in(lab_annotator.username, ANNOTATOR_PASSWORD)
    workspace.page.wait_for_url("**/labeling/")
    return workspace


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig: pytest.Config) -> Path:
    """data/test-run/ (ignored by git): screenshots a person can look at after a run."""
    folder = pytestconfig.rootpath / "data" / "test-run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

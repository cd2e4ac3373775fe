"""The lab in Spanish first: its default, the choice of English remembered per person, the
engine's messages and the JavaScript strings translated, and catalogs that cover the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polib
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from accounts.models import Preferences
from labeling.models import Recording
from voicelab.engine.audio import read_audio
from voicelab.engine.quality import assess_take

pytestmark = pytest.mark.spanish
ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ("django", "djangojs")


def page(client: Client, url: str = "/labeling/", **headers: str) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_lab_speaks_spanish_whatever_the_browser_asks(corpus: None, annotator_client: Client) -> None:
    response = annotator_client.get("/labeling/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    html = response.content.decode()
    assert response["Content-Language"] == "es" and '<html lang="es">' in html
    assert "Etiquetado" in html and "Progreso por estilo" in html and "Cerrar sesión" in html
    assert "Empático" in html and "Labeling" not in html  # style names as the pipeline spells them


@pytest.mark.django_db
def test_english_is_chosen_once_and_follows_the_person(corpus: None, annotator: User, operator: User) -> None:
    browser = Client()
    browser.force_login(annotator)
    switched = browser.post("/accounts/language/", {"language": "en", "next": "/labeling/?style=amable"})
    assert switched.status_code == 302 and switched["Location"] == "/labeling/?style=amable"
    assert "Progress by style" in page(browser)
    assert Preferences.objects.get(user=annotator).language == "en"

    elsewhere = Client()  # another browser, no cookie: the account remembers
    elsewhere.force_login(annotator)
    assert '<html lang="en">' in page(elsewhere)
    colleague = Client()
    colleague.force_login(operator)
    assert "Progreso por estilo" in page(colleague)  # one person's choice is theirs alone


@pytest.mark.django_db
def test_before_logging_in_the_cookie_remembers(client: Client) -> None:
    assert "Iniciar sesión en Voice Lab" in page(client, "/accounts/login/")
    client.post("/accounts/language/", {"language": "en", "next": "/accounts/login/"})
    assert "Log in to Voice Lab" in page(client, "/accounts/login/")


@pytest.mark.django_db
def test_a_bad_choice_is_refused_and_a_foreign_next_goes_home(client: Client) -> None:
    refused = client.post("/accounts/language/", {"language": "tlh"})
    assert refused.status_code == 400 and refused.content.decode() == "Ese idioma no está disponible."
    away = client.post("/accounts/language/", {"language": "es", "next": "https://evil.example/"})
    assert away["Location"] == "/"


@pytest.mark.django_db
def test_the_pages_scripts_get_their_words_in_spanish(client: Client) -> None:
    catalog = page(client, "/jsi18n/")
    assert "Grabar" in catalog and "Subida rechazada" in catalog  # JSON escapes what is not ASCII


def test_a_takes_findings_read_in_spanish_with_a_decimal_comma(
    espeak_wav: Callable[..., Path], greeting_text: str
) -> None:
    """The engine writes English; the page shows its message translated, numbers the Spanish way."""
    audio = read_audio(espeak_wav(greeting_text))
    short = audio.__class__(audio.samples[: audio.sample_rate // 2], audio.sample_rate, 1, audio.format)
    stored = assess_take(short, text=greeting_text, style="amable", baseline=None).as_dict()["findings"]
    take = Recording(status="rejected", grade="red", findings=stored, quality_score=0.0)  # unsaved: no database
    with translation.override("es"):
        html = render_to_string("labeling/_take_badge.html", {"take": take})
    assert "La grabación dura 0,5 segundos; para puntuarla debe durar al menos 1,0 segundo." in html
    with translation.override("en"):
        html = render_to_string("labeling/_take_badge.html", {"take": take})
    assert "The recording is 0.5 seconds long" in html


@pytest.mark.django_db
def test_an_upload_refusal_reads_in_spanish(corpus: None, annotator_client: Client, media_root: Path) -> None:
    notes = SimpleUploadedFile("notas.txt", b"no es audio")
    response = annotator_client.post("/labeling/sentences/shcc-01/takes/", {"audio": notes}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.content.decode().startswith("No se aceptan archivos «.txt»: suba .wav")


@pytest.mark.django_db
def test_the_launch_page_explains_an_unconfigured_teacher_in_spanish(client: Client, operator: User) -> None:
    """The engine's fixed English texts (here the F5 teacher's setup) read translated."""
    client.force_login(operator)
    assert "No hay ningún profesor F5-TTS configurado" in page(client, "/distillation/launch/")


@pytest.mark.parametrize("domain", CATALOGS)
def test_every_string_of_the_catalogs_is_translated(domain: str) -> None:
    catalog = polib.pofile(ROOT / f"locale/es/LC_MESSAGES/{domain}.po")
    untranslated = [entry.msgid for entry in catalog if not entry.translated() or entry.obsolete]
    assert untranslated == [] and not catalog.fuzzy_entries()


def test_the_catalogs_hold_every_string_the_code_shows(tmp_path: Path) -> None:
    """``makemessages`` over a copy of the code finds no string the committed catalogs lack
    (run ``manage.py makemessages -l es`` and translate after changing a text)."""
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext is not installed: `make test` installs it (scripts/system-deps.sh gettext).")
    copy = tmp_path / "lab"
    for part in ("accounts", "labeling", "distillation", "voicelab", "templates", "static", "locale"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__", "plotly", "*.mo"))
    shutil.copy(ROOT / "manage.py", copy)
    for domain in CATALOGS:
        command = [sys.executable, "manage.py", "makemessages", "-l", "es", "-d", domain, "--no-obsolete"]
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "voicelab.settings", "VOICELAB_DATA_DIR": str(tmp_path)}
        subprocess.run(command, cwd=copy, env=environment, check=True, capture_output=True)
        fresh = {entry.msgid for entry in polib.pofile(copy / f"locale/es/LC_MESSAGES/{domain}.po")}
        committed = {entry.msgid for entry in polib.pofile(ROOT / f"locale/es/LC_MESSAGES/{domain}.po")}
        assert fresh - committed == set(), f"{domain}: strings missing from the catalog"

"""Secure defaults: no debug pages, no key in the code, a clean deploy check, no mail-less reset pages."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def _settings(data_dir: Path, **environment: str) -> dict:
    """DEBUG and SECRET_KEY as a fresh process of the lab sees them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(VOICELAB_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="voicelab.settings", **environment)
    code = "import json; from django.conf import settings as s; print(json.dumps([s.DEBUG, s.SECRET_KEY]))"
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    debug, key = json.loads(output.stdout)
    return {"debug": debug, "key": key}


def test_debug_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert _settings(tmp_path)["debug"] is False
    assert _settings(tmp_path, DJANGO_DEBUG="1")["debug"] is True


def test_the_secret_key_is_made_at_first_start_and_kept_in_the_data_directory(tmp_path: Path) -> None:
    first, second = _settings(tmp_path)["key"], _settings(tmp_path)["key"]
    stored = tmp_path / "secret_key"
    assert first == second == stored.read_text().strip() and len(first) >= 50
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert _settings(tmp_path / "other")["key"] != first, "every lab has its own"
    assert _settings(tmp_path, DJANGO_SECRET_KEY="from-the-environment")["key"] == "from-the-environment"
    assert 'SECRET_KEY = "' not in (ROOT / "voicelab" / "settings.py").read_text()


def test_the_deploy_check_under_the_documented_production_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(VOICELAB_DATA_DIR=str(tmp_path), VOICELAB_HTTPS="1", DJANGO_ALLOWED_HOSTS="lab.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    warnings = {line.split(")")[0].split("(")[-1] for line in result.stderr.splitlines() if "(security." in line}
    # The two the README explains: HSTS for subdomains and the preload list are the domain owner's call.
    assert warnings == {"security.W005", "security.W021"}, result.stderr


@pytest.mark.django_db
def test_there_are_no_password_reset_pages(client: Client) -> None:
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.get("/accounts/login/").status_code == 200


def test_the_error_page_claims_nothing_it_cannot_know() -> None:
    page = (ROOT / "templates" / "500.html").read_text()
    assert "nothing was changed" not in page


def test_docker_runs_without_debug_or_a_known_key() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "DJANGO_DEBUG" not in compose and "change-me" not in compose
    assert "DJANGO_DEBUG" not in (ROOT / "Dockerfile").read_text()

"""Bodies over a page's limit are refused before the server reads them (the server's own memory says so)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from .processes import LabProcess

pytestmark = pytest.mark.django_db(transaction=True)

MB = 1024 * 1024
CHUNK = b"\0" * MB
# The server may grow a little while it answers (buffers, a 413 page); a body read whole
# would grow it by the body's size.
MAX_GROWTH_MB = 50


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS


class Sent:
    """What the client managed to send before the server answered or hung up."""

    def __init__(self) -> None:
        self.bytes = 0
        self.status: int | None = None
        self.body = b""


def _post(base_url: str, path: str, megabytes: int, *, chunked: bool = False, cookie: str = "") -> Sent:
    """POST ``megabytes`` of zeros (declared, or chunked without a length) without holding them in memory."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    sent = Sent()
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "multipart/form-data; boundary=xyz")
    if chunked:
        connection.putheader("Transfer-Encoding", "chunked")
    else:
        connection.putheader("Content-Length", str(megabytes * MB))
    if cookie:
        connection.putheader("Cookie", cookie)
    connection.endheaders()
    try:
        for _ in range(megabytes):
            connection.send(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK)
            sent.bytes += MB
        if chunked:
            connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: exactly what it should do
    try:
        response = connection.getresponse()
        sent.status, sent.body = response.status, response.read()
    except (ConnectionResetError, http.client.RemoteDisconnected):
        pass
    connection.close()
    return sent


@pytest.fixture
def web(web_server: tuple[LabProcess, str]) -> Iterator[tuple[int, str]]:
    process, base_url = web_server
    pid = process.popen.pid
    _reset_peak(pid)
    yield pid, base_url


def _growth_mb(pid: int, before: dict[str, int]) -> float:
    return (_status(pid)["VmHWM"] - before["VmRSS"]) / 1024


def test_an_anonymous_300_mb_post_is_refused_unread(web: tuple[int, str], corpus: None) -> None:
    pid, base_url = web
    before = _status(pid)
    sent = _post(base_url, "/labeling/sentences/shcc-01/takes/", 300)
    growth = _growth_mb(pid, before)
    print(
        f"anonymous 300 MB POST: status {sent.status}, sent {sent.bytes / MB:.0f} MB, peak RSS growth {growth:.1f} MB"
    )
    assert sent.status == 413
    assert b"larger than this page accepts" in sent.body
    assert sent.bytes < 300 * MB, "refused before the body was sent"
    assert growth < MAX_GROWTH_MB


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(web: tuple[int, str], corpus: None) -> None:
    pid, base_url = web
    before = _status(pid)
    sent = _post(base_url, "/labeling/sentences/shcc-01/takes/", 120, chunked=True)
    growth = _growth_mb(pid, before)
    print(f"chunked 120 MB POST: status {sent.status}, sent {sent.bytes / MB:.0f} MB, peak RSS growth {growth:.1f} MB")
    assert sent.status == 413
    assert growth < MAX_GROWTH_MB


def test_an_annotator_upload_over_the_limit_is_refused_unread(
    web: tuple[int, str], corpus: None, lab_annotator: User
) -> None:
    pid, base_url = web
    client = Client()
    client.force_login(lab_annotator)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    megabytes = settings.VOICELAB_MAX_UPLOAD_BYTES // MB + 1
    before = _status(pid)
    sent = _post(base_url, "/labeling/sentences/shcc-01/takes/", megabytes, cookie=cookie)
    growth = _growth_mb(pid, before)
    print(f"annotator {megabytes} MB upload: status {sent.status}, peak RSS growth {growth:.1f} MB")
    assert sent.status == 413
    assert growth < MAX_GROWTH_MB

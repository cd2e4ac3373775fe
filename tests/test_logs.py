"""The lab's log says what went wrong, not what went as expected."""

from __future__ import annotations

import logging

import pytest
from django.test import Client


@pytest.mark.django_db
def test_expected_refusals_leave_no_traceback(
    corpus: None, client: Client, annotator_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert annotator_client.get("/labeling/sentences/shcc-99/").status_code == 404
    assert annotator_client.get("/distillation/launch/").status_code == 403
    assert annotator_client.get("/nowhere/").status_code == 404
    assert [r for r in caplog.records if r.exc_info or r.name == "django.request"] == []

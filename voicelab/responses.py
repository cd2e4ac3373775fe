"""Responses every app's views share."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def error_response(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    """A refusal a person can read: plain text for htmx (shown in the page), a page otherwise."""
    if request.htmx:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "error.html", {"message": message}, status=status)


def form_error(form: forms.Form) -> str:
    """Every error of a bound, invalid form, as one sentence-like line."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)

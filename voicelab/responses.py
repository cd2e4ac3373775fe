"""Responses every app's views share."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

View = Callable[..., HttpResponse]


def error_response(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    """A refusal a person can read: plain text for htmx (shown in the page), ``{"error": ...}``
    for a client that asks for JSON, a page otherwise."""
    if request.htmx:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if request.get_preferred_type(["text/html", "application/json"]) == "application/json":
        return JsonResponse({"error": message}, status=status)
    return render(request, "error.html", {"message": message}, status=status)


def not_found_as_message(view: View) -> View:
    """Answer the view's ``Http404`` with its message through ``error_response``.

    Django's own 404 page is HTML, which the page's script can only report as "HTTP 404";
    raise ``Http404("Sentence shcc-99 does not exist.")`` and the person reads that instead.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404 as exc:
            return error_response(request, str(exc), status=404)

    return wrapped


def form_error(form: forms.Form) -> str:
    """Every error of a bound, invalid form, as one sentence-like line."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)

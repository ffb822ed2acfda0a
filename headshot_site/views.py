from django.shortcuts import render

from core.api_errors import json_error


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _wants_json(request):
        return json_error(status_code=404, code="not_found", message="Not found.")
    return render(request, "404.html", status=404)


def server_error(request):
    if _wants_json(request):
        return json_error(
            status_code=500, code="server_error", message="Something went wrong on our side."
        )
    return render(request, "500.html", status=500)

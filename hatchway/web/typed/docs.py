"""Serving the document and an interactive docs page that works offline.

The Swagger UI files come from the ``swagger-ui-bundle-v2`` package (the
``docs`` extra), read from disk on first use and served by the app itself,
so the page needs no CDN.
"""

import json
from html import escape

from ..response import Response

__all__ = ["mount_docs"]

_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


def _asset_dir():
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        raise RuntimeError(
            "docs_url needs the Swagger UI assets: pip install 'hatchway[docs]' "
            "(the swagger-ui-bundle-v2 package)"
        ) from None
    return swagger_ui_path


def mount_docs(app, openapi_url, docs_url):
    """Add the JSON document route and, if asked, the docs page and its assets."""
    if docs_url and not openapi_url:
        openapi_url = docs_url.rstrip("/") + "/openapi.json"
    cache: dict = {}

    def openapi_document():
        # Built once, on the first request: the route table is frozen by then.
        body = cache.get("doc")
        if body is None:
            body = cache["doc"] = json.dumps(app.openapi(), ensure_ascii=False).encode()
        return Response(body, 200, content_type="application/json")

    app.add_url_rule(openapi_url, "openapi_document", openapi_document, include_in_schema=False)
    if not docs_url:
        return
    folder = _asset_dir()
    assets = docs_url.rstrip("/") + "/assets"
    page = _PAGE.format(
        title=escape(app.openapi_info["title"]) + " - API docs",
        assets=escape(assets), spec_url=json.dumps(openapi_url).replace("</", "<\\/"),
    ).encode()

    def docs_page():
        return Response(page, 200, content_type="text/html; charset=utf-8")

    def docs_asset(name):
        data = cache.get(name)
        if data is None:
            data = cache[name] = (folder / name).read_bytes()
        resp = Response(data, 200, content_type=_ASSETS[name])
        resp.headers.set("Cache-Control", "public, max-age=86400")
        return resp

    app.add_url_rule(docs_url, "docs_page", docs_page, include_in_schema=False)
    names = ", ".join(f"'{n}'" for n in _ASSETS)
    app.add_url_rule(f"{assets}/<any({names}):name>", "docs_asset", docs_asset, include_in_schema=False)

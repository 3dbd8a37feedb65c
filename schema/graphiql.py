"""GraphiQL, served by Lumbung itself: the page and its assets (React, GraphiQL, the explorer
plugin) come from this package, never from a CDN, so the page works on a machine without the
internet. The assets are pinned (static/graphiql/vendor/MANIFEST: versions and sha384);
`scripts/fetch-graphiql` fetches them again from the npm registry."""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static") / "graphiql"
VENDOR_DIR = STATIC_DIR / "vendor"
# Where the page finds its assets, relative to the page (`/graphql`), so a path prefix in front
# of Lumbung (a proxy's root path) works too.
ASSETS_PATH = "/graphiql"


def page_html() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


def assets() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)

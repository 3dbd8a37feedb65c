"""GraphiQL's page and assets come from Lumbung, pinned: no CDN anywhere, and the vendored
files are the bytes their MANIFEST records."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from schema.graphiql import STATIC_DIR, VENDOR_DIR
from tests.support.app import make_settings, open_api

ROOT = Path(__file__).resolve().parents[2]
# Where front-end libraries are usually loaded from.
CDN = re.compile(
    r"//(unpkg\.com|cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|esm\.sh|cdn\.skypack\.dev"
    r"|ga\.jspm\.io|fonts\.googleapis\.com|fonts\.gstatic\.com|embed\.graphql\.com)"
)


def manifest() -> list[tuple[str, str, str, str]]:
    lines = (VENDOR_DIR / "MANIFEST").read_text().splitlines()
    rows = [tuple(line.split()) for line in lines if line.strip() and not line.startswith("#")]
    assert all(len(row) == 4 for row in rows), rows
    return rows  # type: ignore[return-value]


def test_no_cdn_url_anywhere_in_the_application() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for folder in ("server", "schema")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in (".py", ".html", ".js", ".css", ".graphql")
        for match in CDN.finditer(path.read_text(errors="replace"))
    ]
    assert found == []


def test_the_vendored_files_are_the_bytes_their_manifest_records() -> None:
    rows = manifest()
    assert {row[0] for row in rows} == {
        path.name for path in VENDOR_DIR.iterdir() if path.suffix in (".js", ".css")
    }
    for name, package, _inner, sha384 in rows:
        digest = hashlib.sha384((VENDOR_DIR / name).read_bytes()).digest()
        assert f"sha384-{base64.b64encode(digest).decode()}" == sha384, (name, package)
    # Each package's licence travels with it (NOTICE.md says why the explorer has none).
    assert {path.name for path in VENDOR_DIR.glob("LICENSE.*")} == {
        "LICENSE.react",
        "LICENSE.react-dom",
        "LICENSE.graphiql",
    }


def test_the_page_loads_every_asset_from_the_server() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    for source in sources:
        assert source.startswith(("graphiql/", "data:")), source
        if source.startswith("graphiql/"):
            assert (STATIC_DIR / source.removeprefix("graphiql/")).is_file(), source


async def test_the_server_serves_the_page_and_its_assets(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path)
    async with open_api(settings) as api:
        page = await api.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert '<script src="graphiql/vendor/graphiql.min.js">' in page.text
        assert not CDN.search(page.text)
        script = await api.client.get("/graphiql/vendor/graphiql.min.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith(
            ("text/javascript", "application/javascript")
        )
        assert script.content == (VENDOR_DIR / "graphiql.min.js").read_bytes()


async def test_without_graphiql_neither_the_page_nor_its_assets_are_served(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path, graphiql=False)
    async with open_api(settings) as api:
        assert (await api.client.get("/graphiql/vendor/graphiql.min.js")).status_code == 404
        page = await api.client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql.min.js" not in page.text

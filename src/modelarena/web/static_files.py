"""Static files served compressed and cacheable. Each file is read once, at startup, and
named by a hash of its content: `url(name)` is `/static/<name>?v=<hash>`, which browsers
keep for a year without asking again (a changed file gets a new URL); any other URL of it
is revalidated on each use with its ETag. Text is sent gzip-compressed to clients that
accept it, compressed once, on the first request that asks."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from collections.abc import Mapping
from pathlib import Path

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.responses import Response

from modelarena.errors import APIError

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = ("text/", "application/json", "image/svg+xml")
MIN_COMPRESS_BYTES = 1024  # below this, gzip's header eats the gain


class Asset:
    """One file: its bytes, type, content hash, and (once asked for) its gzip copy."""

    def __init__(self, name: str, body: bytes) -> None:
        self.body = body
        suffix = Path(name).suffix
        self.media_type = MEDIA_TYPES.get(suffix) or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        self.digest = hashlib.sha256(body).hexdigest()[:16]
        self.compressible = (
            self.media_type.startswith(COMPRESSIBLE) and len(body) >= MIN_COMPRESS_BYTES
        )
        self._gzip: bytes | None = None
        self._lock = threading.Lock()

    def gzipped(self) -> bytes:
        """The gzip copy, compressed on the first call (in a worker thread: it blocks)."""
        with self._lock:
            if self._gzip is None:
                self._gzip = gzip.compress(self.body, compresslevel=9, mtime=0)
            return self._gzip


class StaticFiles:
    """Files under one URL prefix, by name; `url` for templates, `response` for a route."""

    def __init__(self, files: Mapping[str, bytes], prefix: str = "/static") -> None:
        self.prefix = prefix
        self.assets = {name: Asset(name, body) for name, body in files.items()}

    @classmethod
    def from_directory(
        cls, directory: Path, extra: Mapping[str, Path | bytes] | None = None, **options
    ) -> StaticFiles:
        """Every file directly in `directory`, plus `extra` (a name: a path or the bytes)."""
        files = {
            path.name: path.read_bytes()
            for path in sorted(directory.iterdir())
            if path.is_file() and not path.name.startswith(".")
        }
        for name, source in (extra or {}).items():
            files[name] = source if isinstance(source, bytes) else source.read_bytes()
        return cls(files, **options)

    def url(self, name: str) -> str:
        """The URL of a file that browsers may cache for good; it changes with the file."""
        return f"{self.prefix}/{name}?v={self.assets[name].digest}"

    async def response(self, name: str, headers: Headers, version: str | None) -> Response:
        """The file, gzip-compressed if the client takes it; 304 if its copy is current."""
        asset = self.assets.get(name)
        if asset is None:
            raise APIError(404, "No such file.", type="not_found_error")
        compress = asset.compressible and accepts_gzip(headers.get("accept-encoding", ""))
        etag = f'"{asset.digest}-gz"' if compress else f'"{asset.digest}"'
        common = {
            "Cache-Control": IMMUTABLE if version == asset.digest else REVALIDATE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if asset.compressible:
            common["Vary"] = "Accept-Encoding"
        if _matches(headers.get("if-none-match"), asset.digest):
            return Response(status_code=304, headers=common)
        if not compress:
            return Response(asset.body, media_type=asset.media_type, headers=common)
        body = await to_thread.run_sync(asset.gzipped)
        return Response(
            body, media_type=asset.media_type, headers={**common, "Content-Encoding": "gzip"}
        )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (named, or `*`, with q above 0)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding.strip().lower()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def _matches(if_none_match: str | None, digest: str) -> bool:
    """Whether If-None-Match names either representation of the file (weak comparison)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return bool(tags & {f'"{digest}"', f'"{digest}-gz"'})

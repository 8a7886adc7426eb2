"""Images attached to arena prompts: checked (PNG, JPEG or WebP, size limit, really an
image), stored on disk under their SHA-256, and turned into OpenAI `image_url` parts."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from modelarena.errors import APIError

KINDS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "WEBP": ("webp", "image/webp")}
_ID = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp)$")
MIME = {extension: mime for extension, mime in KINDS.values()}


class ImageStore:
    """Content-addressed image files below one folder."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def save(self, data: bytes) -> str:
        """Check and store an upload; its id (`<sha256>.<ext>`)."""
        if len(data) > self.max_bytes:
            raise APIError(
                413,
                f"The image is {len(data)} bytes; the limit is {self.max_bytes} bytes.",
                param="image",
                code="image_too_large",
            )
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                image.verify()
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
        ) as exc:
            raise APIError(
                400,
                "The file is not a readable PNG, JPEG or WebP image.",
                param="image",
                code="invalid_image",
            ) from exc
        if kind not in KINDS:
            raise APIError(
                400,
                f"{kind} images are not accepted; use PNG, JPEG or WebP.",
                param="image",
                code="invalid_image",
            )
        image_id = f"{hashlib.sha256(data).hexdigest()}.{KINDS[kind][0]}"
        path = self.path(image_id)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        return image_id

    def path(self, image_id: str) -> Path:
        if not _ID.match(image_id):
            raise APIError(404, "No such image.", param="image", code="image_not_found")
        return self.folder / image_id[:2] / image_id

    def read(self, image_id: str) -> bytes:
        path = self.path(image_id)
        if not path.is_file():
            raise APIError(404, "No such image.", param="image", code="image_not_found")
        return path.read_bytes()

    def data_url(self, image_id: str) -> str:
        """The image as a `data:` URL, the form every OpenAI-compatible API accepts."""
        encoded = base64.b64encode(self.read(image_id)).decode("ascii")
        return f"data:{MIME[image_id.rsplit('.', 1)[1]]};base64,{encoded}"

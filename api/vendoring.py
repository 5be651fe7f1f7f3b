"""Refreshes the files ``/docs`` and ``/redoc`` serve themselves, so that they need no CDN.

    python -m api.vendoring          # needs npm and the npm registry, run by hand

- ``swagger-ui-dist`` (Apache-2.0): ``swagger-ui-bundle.js``, ``swagger-ui.css``, the favicon,
  LICENSE and the licences of what the bundle includes.
- ``redoc`` (MIT): ``bundles/redoc.standalone.js``, LICENSE and the bundle's licences. The
  bundle's one address outside (Redocly's logo in the menu, from their CDN) is blanked: the
  image then hides itself, and the page asks nothing of the internet.

The versions are those FastAPI's own pages were written for (Swagger UI 5, ReDoc 2).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from maps.vendoring import npm_pack

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
SWAGGER_UI = "swagger-ui-dist@5.36.0"
REDOC = "redoc@2.5.4"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        swagger = npm_pack(SWAGGER_UI, Path(tmp))
        out = VENDOR / "swagger-ui"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name in (
            "swagger-ui-bundle.js",
            "swagger-ui-bundle.js.LICENSE.txt",
            "swagger-ui.css",
            "favicon-32x32.png",
            "LICENSE",
        ):
            shutil.copy(swagger / name, out / name)
        if (swagger / "NOTICE").exists():
            shutil.copy(swagger / "NOTICE", out / "NOTICE")

        redoc = npm_pack(REDOC, Path(tmp))
        out = VENDOR / "redoc"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        bundle = (redoc / "bundles" / "redoc.standalone.js").read_text(encoding="utf-8")
        assert REDOC_LOGO in bundle, "the logo moved: check the bundle for outside addresses"
        (out / "redoc.standalone.js").write_text(bundle.replace(REDOC_LOGO, ""), encoding="utf-8")
        shutil.copy(redoc / "bundles" / "redoc.standalone.js.LICENSE.txt", out)
        shutil.copy(redoc / "LICENSE", out / "LICENSE")


if __name__ == "__main__":
    main()

"""Sphinx extension: serve plotly's JavaScript from the built book's ``_static`` folder.

The interactive explorers (``qaplib.explorer``) load ``_static/plotly.min.js``; this copies the file of the
installed plotly package there after the HTML build, so the book needs no network (no CDN) and pages
share one copy of the script.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _copy_plotly(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    target = Path(app.outdir) / "_static" / "plotly.min.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def setup(app):
    app.connect("build-finished", _copy_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

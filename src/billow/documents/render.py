"""HTML from the Jinja2 templates of ``templates/``, and PDF from that HTML with WeasyPrint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def html(template: str, view: dict[str, Any]) -> str:
    """The document as HTML (the same page a browser can show)."""
    return _env.get_template(template).render(view=view)


def pdf(page: str) -> bytes:
    """The HTML page printed to PDF. WeasyPrint (and its pango bindings) load on the first
    render: processes that never render a document do not pay for them."""
    from weasyprint import HTML

    return HTML(string=page, base_url=str(TEMPLATES)).write_pdf()  # type: ignore[no-any-return]

"""A printable HTML page as a PDF, through WeasyPrint (which needs Pango: Debian's
libpango-1.0-0 and libpangoft2-1.0-0, installed by `make system-deps`, and a font such as
fonts-dejavu-core). Imported on first use: loading WeasyPrint takes a moment."""

from __future__ import annotations

from controller.errors import Unavailable


def html_to_pdf(html: str) -> bytes:
    """The page as PDF bytes; Unavailable (503) when WeasyPrint or Pango is missing here."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango library cannot be loaded
        raise Unavailable(
            f"PDF rendering is not available on this server ({type(exc).__name__}: {exc}); "
            "install weasyprint and Pango (make system-deps), or download the HTML and print it"
        ) from None
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf

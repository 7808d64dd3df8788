"""Write ``rag_app/sample_data/nimbus-service-notes.pdf``, the sample PDF of the demo documents (our own text).

The PDF is committed; this script is how it was made, so it can be changed and rebuilt:
``.venv/bin/python scripts/make_sample_pdf.py`` (needs ``fpdf2``, in the ``dev`` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent.parent / "rag_app" / "sample_data" / "nimbus-service-notes.pdf"
PAGES = [
    [
        ("title", "Nimbus 3 Service Notes"),
        ("heading", "Cleaning the rain gauge"),
        ("text", "Empty the tipping bucket and rinse the funnel with warm water every three months. Leaves and "
                 "insects left in the funnel make the rain total read low until they are removed."),
        ("heading", "Display brightness"),
        ("text", "The backlight dims automatically at night. Hold the MODE button for three seconds to choose "
                 "between automatic, always on and off."),
    ],
    [
        ("heading", "Storing the station in winter"),
        ("text", "If the outdoor sensor is taken down for the winter, store it indoors above 0 \u00b0C. After it is "
                 "mounted again, pair it with the display as described in the user manual."),
    ],
]
STYLE = {"title": ("B", 18, 12), "heading": ("B", 13, 9), "text": ("", 11, 6)}


def build(path: Path = OUT) -> Path:
    pdf = FPDF()
    pdf.set_title("Nimbus 3 Service Notes")
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # the same bytes on every run
    for page in PAGES:
        pdf.add_page()
        for kind, text in page:
            weight, size, height = STYLE[kind]
            pdf.set_font("Helvetica", weight, size)
            if kind != "text":
                pdf.start_section(text, level=0 if kind == "title" else 1)
            pdf.multi_cell(0, height, text)
            pdf.ln(2)
    pdf.output(str(path))
    return path


if __name__ == "__main__":
    print(build())

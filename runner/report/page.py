"""One self-contained HTML page: figures inlined as base64 PNG, tables, no external URLs."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from runner.report.tables import cell

STYLE = """
body { font-family: system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
p.meta { color: #555; margin-top: 0; }
p.help { color: #444; font-size: 0.92em; max-width: 60em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
div.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-diverged, .status-failed { color: #b00020; font-weight: bold; }
pre.command { background: #f6f6f6; border: 1px solid #e3e3e3; padding: 0.5em 0.8em;
              white-space: pre-wrap; word-break: break-all; font-size: 0.85em; }
p.sweep { margin-bottom: 0.2em; }
"""


@dataclass
class Section:
    """A heading, a line on how to read it, and its images (PNG bytes) and table rows."""

    anchor: str
    title: str
    help: str
    images: list[tuple[str, bytes]]  # (alt text, PNG)
    rows: list[dict] | None = None
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> value -> URL


@dataclass
class Command:
    """A sweep as the page shows it: its name (a link where there is one), its command."""

    name: str
    command: str
    href: str | None = None


def image(alt: str, png: bytes) -> str:
    """An <img> carrying its PNG inline (a data: URL): the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def link(text: str, href: str | None) -> str:
    """`text`, escaped, as a link to `href` where there is one."""
    if not href:
        return html.escape(text)
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def table(rows: list[dict], links: dict[str, dict[str, str]] | None = None) -> str:
    """An HTML table of the rows (columns: the first row's keys), numbers right-aligned;
    a cell whose value has a URL in `links[column]` links to it."""
    if not rows:
        return "<p>(no rows)</p>"
    columns = list(rows[0])
    links = links or {}
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = ["<tr>" + "".join(_td(c, r[c], links.get(c, {})) for c in columns) + "</tr>"
            for r in rows]
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _td(column: str, value, links: dict[str, str]) -> str:
    kind = ("num" if isinstance(value, (int, float))
            else f"status-{value}" if column == "status" else "")
    href = links.get(value) if isinstance(value, str) else None
    return f'<td class="{kind}">{link(cell(value), href)}</td>'


def commands(sweeps: list[Command]) -> list[str]:
    """Each sweep's name and the command that ran it, ready to paste into a shell."""
    return [f'<p class="sweep">{link(s.name, s.href)}</p>'
            f'<pre class="command"><code>{html.escape(s.command)}</code></pre>' for s in sweeps]


def render(title: str, meta: str, sections: list[Section],
           sweeps: list[Command] | None = None) -> str:
    """The whole page as one string: the title, the sweeps' commands, the sections."""
    parts = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(meta)}</p>',
             *commands(sweeps or [])]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        parts.append(f'<p class="help">{html.escape(s.help)}</p>')
        parts += [image(alt, png) for alt, png in s.images]
        if s.rows is not None:
            parts.append(table(s.rows, s.links))
        parts.append("</section>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")

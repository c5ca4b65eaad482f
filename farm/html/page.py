"""The HTML frame of the farm's pages: one self-contained file, inline CSS, no script.

A Content-Security-Policy in the page itself forbids every script and every load from
anywhere (images only as ``data:``), so a page that works here works offline.

Every value goes through MarkupSafe's escaping (``Markup.format``), so cell tags, errors and
source lines cannot break the page; chart SVG arrives as trusted :class:`Markup`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;
     background:#fafafa}
header{background:#23395d;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.9}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:6px 24px;z-index:1;
    display:flex;flex-wrap:wrap;gap:2px 16px}
nav a{color:#23395d;text-decoration:none;white-space:nowrap}
main{padding:8px 24px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:16px 0;
        padding:4px 18px 14px}
h2{font-size:17px;border-bottom:1px solid #eee;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f1f3f6}
table.facts th{font-weight:600;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#1d7a38;font-weight:600}.fail{color:#c0221f;font-weight:600}
.warn{background:#fff6e0;border-left:4px solid #e0a100;padding:6px 10px;margin:8px 0}
.note{color:#555}
figure{margin:10px 0}
figcaption{color:#555;font-size:13px;max-width:760px}
.pair{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:6px 8px;overflow:auto;font-size:12px;
    max-width:640px;margin:4px 0}
pre.wide{max-width:none;max-height:420px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
img.diff{image-rendering:pixelated;border:1px solid #ccc;max-width:512px}
details{margin:6px 0}
"""

#: Nothing may load: no script, no network; inline styles and data: images only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass
class Section:
    """One titled section of a page: an anchor, a heading and its body."""

    anchor: str
    title: str
    body: list[Markup] = field(default_factory=list)

    def add(self, *parts: Markup | str) -> Section:
        """Append parts (plain strings are escaped and wrapped in a paragraph)."""
        for part in parts:
            self.body.append(part if isinstance(part, Markup) else para(part))
        return self


def para(text: str, cls: str | None = None) -> Markup:
    """A paragraph of escaped text."""
    if cls:
        return Markup('<p class="{}">{}</p>').format(cls, text)
    return Markup("<p>{}</p>").format(text)


def inline_code(text: str) -> Markup:
    """Escaped text whose `backticked` parts become ``<code>`` (markdown-style messages)."""
    parts = str(text).split("`")
    return Markup("").join(
        Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts)
    )


def warning(text: str) -> Markup:
    """A highlighted warning box."""
    return Markup('<div class="warn">{}</div>').format(text)


def table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int] | None = None
) -> Markup:
    """An HTML table; cells that are :class:`Markup` are kept, the rest escaped."""
    numeric = numeric or set()
    head = Markup("").join(Markup("<th>{}</th>").format(h) for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cls = Markup(' class="num"') if i in numeric else Markup("")
            cells.append(Markup("<td{}>{}</td>").format(cls, value))
        body.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
    return Markup("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>").format(
        head, Markup("").join(body)
    )


def facts(rows: Iterable[Sequence[Any]]) -> Markup:
    """A two-column table of named facts: each row's name is its header cell (no header row)."""
    body = Markup("").join(
        Markup('<tr><th scope="row">{}</th><td>{}</td></tr>').format(name, value)
        for name, value in rows
    )
    return Markup('<table class="facts"><tbody>{}</tbody></table>').format(body)


def figure(chart: Markup, caption: str) -> Markup:
    """A chart with its caption."""
    return Markup("<figure>{}<figcaption>{}</figcaption></figure>").format(chart, caption)


def pre(text: str, cls: str | None = None) -> Markup:
    """Preformatted, escaped text."""
    if cls:
        return Markup('<pre class="{}"><code>{}</code></pre>').format(cls, text)
    return Markup("<pre><code>{}</code></pre>").format(text)


def details(summary: str, body: Markup) -> Markup:
    """A collapsed block."""
    return Markup("<details><summary>{}</summary>{}</details>").format(summary, body)


def link(href: str, text: str) -> Markup:
    """A relative link (escaped)."""
    return Markup('<a href="{}">{}</a>').format(href, text)


def document(
    title: str, subtitle: Sequence[str], sections: Sequence[Section], meta: dict[str, str]
) -> str:
    """The whole page: head (title, CSS, ``meta``), header, navigation, sections."""
    metas = Markup("").join(
        Markup('<meta name="{}" content="{}">').format(k, v) for k, v in meta.items()
    )
    nav = Markup("").join(link(f"#{s.anchor}", s.title) for s in sections)
    subs = Markup("").join(Markup("<p>{}</p>").format(s) for s in subtitle)
    body = Markup("").join(
        Markup('<section id="{}"><h2>{}</h2>{}</section>').format(
            s.anchor, s.title, Markup("").join(s.body)
        )
        for s in sections
    )
    return str(
        Markup(
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="{}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "{}<title>{}</title><style>{}</style></head><body>"
            "<header><h1>{}</h1>{}</header><nav>{}</nav><main>{}</main></body></html>\n"
        ).format(CSP, metas, title, Markup(CSS), title, subs, nav, body)
    )

"""The command line's report rendering: a small self-contained Markdown-to-HTML converter for
report.md (headings, tables, lists, images, code blocks, `code` and **bold**)."""

from __future__ import annotations

import html
import re
from typing import Any


def _html(md: str, fit: Any) -> str:
    """A small self-contained Markdown-to-HTML rendering of the report (headings, tables, images, code)."""
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>scalingfit report: {html.escape(fit.form)}</title>",
           "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
           "img{max-width:100%}pre{background:#f6f6f6;padding:8px;overflow-x:auto}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    in_list = False
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1 : j])) + "</pre>")
            i = j + 1
            continue
        if in_list and not ln.startswith("- "):
            out.append("</ul>")
            in_list = False
        if ln.startswith("#"):
            lvl = len(ln) - len(ln.lstrip("#"))
            out.append(f"<h{lvl}>{_inline(ln[lvl:].strip())}</h{lvl}>")
        elif ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
            continue
        elif ln.startswith("![") and "](" in ln:
            alt, src = ln[2:].split("](", 1)
            out.append(f"<p><img alt='{html.escape(alt)}' src='{html.escape(src.rstrip(')'))}'></p>")
        elif ln.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(ln[2:])}</li>")
        elif ln.strip():
            out.append(f"<p>{_inline(ln)}</p>")
        i += 1
    if in_list:
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline(s: str) -> str:
    parts = s.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if k % 2 else _BOLD.sub(r"<strong>\1</strong>", html.escape(p)) for k, p in enumerate(parts))


_BOLD = re.compile(r"\*\*(.+?)\*\*")

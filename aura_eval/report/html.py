"""The leaderboard as one static HTML page: opens from disk, no server, no external assets.

Clicking a column header sorts the rows by that column (numbers as numbers, empty cells last);
each cell carries its sort key in `data-sort`, so that "0.21 ± 0.01", "-0.07 [-0.11, -0.03]",
"1.2x [1.0, 1.5]" and "+0.003 [-0.01, +0.02] (p=0.21)" sort by their point estimate.
Verdict cells carry a class (`verdict verdict-kept`, ...) that colours them.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; white-space: nowrap; }
td.name, th.name { text-align: left; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-order="asc"]::after { content: " \\25B2"; }
th[data-order="desc"]::after { content: " \\25BC"; }
tr.base td { font-weight: bold; }
td.verdict { font-weight: bold; }
td.verdict-kept, td.verdict-less-toxic { color: #1a7f37; }
td.verdict-lost, td.verdict-more-toxic { color: #c62828; }
td.verdict-inconclusive, td.verdict-not-significant { color: #8a6d00; }
.notes, .legend { color: #555; }
"""

SORT_SCRIPT = """
function compareKeys(a, b) {
  if (a === "" || b === "") return (a === "") - (b === "");
  const x = Number(a), y = Number(b);
  return (isNaN(x) || isNaN(y)) ? a.localeCompare(b) : x - y;
}
function sortTable(header) {
  const table = header.closest("table");
  const column = header.cellIndex;
  const ascending = header.dataset.order !== "asc";
  table.querySelectorAll("th").forEach(th => delete th.dataset.order);
  header.dataset.order = ascending ? "asc" : "desc";
  const body = table.tBodies[0];
  const key = row => row.cells[column].dataset.sort;
  const rows = Array.from(body.rows).sort((r, s) => {
    const a = key(r), b = key(s);
    if (a === "" || b === "") return compareKeys(a, b);  // empty cells last in both directions
    return ascending ? compareKeys(a, b) : compareKeys(b, a);
  });
  rows.forEach(row => body.appendChild(row));
}
document.querySelectorAll("th").forEach(th => th.addEventListener("click", () => sortTable(th)));
"""


def render_html(tables, notes: list[str], legend, images=()) -> str:
    """`tables` are render.DisplayTable; `notes` plain text (render.plain_note); `legend` is (name, meaning) pairs;
    `images` (caption, file name) pairs of the expert maps beside the page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>AurA leaderboard</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>AurA leaderboard</h1>",
        '<p class="notes">' + " &middot; ".join(escape(note) for note in notes) + "</p>",
    ]
    for table in tables:
        parts.append(f"<h2>{escape(table.title)}</h2>")
        parts.append(render_table(table))
    if images:
        parts.append("<h2>Expert map</h2>")
        parts += [f'<figure><img src="{escape(quote(name))}" alt="expert map of {escape(caption)}">'
                  f"<figcaption>{escape(caption)}</figcaption></figure>" for caption, name in images]
    parts.append('<ul class="legend">')
    parts += [f"<li><b>{escape(name)}</b>: {escape(meaning)}</li>" for name, meaning in legend]
    parts.append("</ul>")
    parts.append(f"<script>{SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def render_table(table) -> str:
    """The leading `table.lead` columns name the row (left-aligned); base rows are bold."""
    head = "".join(f'<th{name_class(index, table)} title="click to sort">{escape(header)}</th>'
                   for index, header in enumerate(table.headers))
    rows = []
    for index, row in enumerate(table.rows):
        css = ' class="base"' if table.base and table.base[index] else ""
        cells = "".join(render_cell(cell, column < table.lead) for column, cell in enumerate(row))
        rows.append(f"<tr{css}>{cells}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def name_class(index: int, table) -> str:
    return ' class="name"' if index < table.lead else ""


def render_cell(cell, name: bool = False) -> str:
    classes = " ".join(part for part in ("name" if name else "", getattr(cell, "css", "")) if part)
    css = f' class="{escape(classes)}"' if classes else ""
    return f'<td{css} data-sort="{escape(cell.sort)}">{escape(cell.text)}</td>'

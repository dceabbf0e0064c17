"""Render a :class:`~buildonce.telemetry.reports.Report` as text, Markdown, JSON or HTML."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from buildonce.telemetry.reports import RangeStats, Report, report_json_text
from buildonce.telemetry.timestamps import format_duration as fd
from buildonce.telemetry.timestamps import format_time

_MARK = {"pass": "PASS", "fail": "FAIL", "n/a": "n/a"}
_EMOJI = {"pass": "✅ pass", "fail": "❌ fail", "n/a": "➖ n/a"}


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report as (title, header, rows) tables shared by every text-like format."""
    tables: list[tuple[str, list[str], list[list[str]]]] = []
    tables.append(
        (
            "Success criteria",
            ["criterion", "status", "actual", "target", "detail"],
            [[c.title, _MARK[c.status], c.actual, c.target, c.detail] for c in report.criteria],
        )
    )
    ranges = [r for r in (report.baseline, report.current) if r is not None]
    tables.append(
        (
            "Runs",
            [
                "range",
                "runs",
                "pass rate",
                "wall median",
                "wall p90",
                "hit rate",
                "rebuilt jobs",
                "extra compiles",
            ],
            [
                [
                    f"{r.label} ({r.selector})",
                    str(r.runs),
                    _pct(r.pass_rate),
                    fd(r.wall_median_s),
                    fd(r.wall_p90_s),
                    _pct(r.hit_rate),
                    str(r.rebuilt_jobs),
                    str(r.extra_compiles),
                ]
                for r in ranges
            ],
        )
    )
    for r in ranges:
        tables.append(
            (
                f"Jobs — {r.label}",
                ["job", "n", "median", "p90", "queue median", "binary"],
                [
                    [
                        j.name,
                        str(j.count),
                        fd(j.median_s),
                        fd(j.p90_s),
                        fd(j.queue_median_s),
                        "yes" if j.uses_binary else "",
                    ]
                    for j in r.jobs
                ],
            )
        )
        if r.matrix:
            tables.append(
                (
                    f"Matrix legs — {r.label}",
                    ["job", "legs", "average"],
                    [[n, str(legs), fd(m)] for n, legs, m in r.matrix],
                )
            )
        if r.critical_path:
            cp = r.critical_path
            tables.append(
                (
                    f"Critical path — {r.label}, run {r.critical_path_run} "
                    f"({fd(cp.total_s)}, edges from {cp.source})",
                    ["job", "waited", "ran"],
                    [[s.name, fd(s.queue_s), fd(s.run_s)] for s in cp.segments],
                )
            )
    if report.cache:
        q = report.cache
        rows = [
            ["quota", f"{_size(q.limit_bytes)} ({q.limit_source})"],
            ["listed entries", f"{len(q.entries)} = {_size(q.listed_bytes)}"],
            ["active (usage API)", _size(q.active_bytes)],
            ["used", _pct(q.used_fraction)],
            ["dead weight (PR / merge-queue refs)", _size(q.dead_bytes)],
            ["snapshot", format_time(q.snapshot_at)],
        ]
        tables.append(("Cache quota", ["", ""], rows))
        tables.append(
            (
                "Cache entries",
                ["key", "ref", "size", "dead", "jobs"],
                [
                    [
                        e.key,
                        e.ref,
                        _size(e.size_bytes),
                        "yes" if e.dead_weight else "",
                        "; ".join(e.jobs),
                    ]
                    for e in q.entries[:25]
                ],
            )
        )
    return tables


def render_text(report: Report) -> str:
    out = [f"buildonce telemetry report: {report.repo}"]
    for title, header, rows in _tables(report):
        out.append("")
        out.append(title)
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(header)
        ]
        if any(header):
            out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        for row in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if not rows:
            out.append("(none)")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report) -> str:
    out = [f"## buildonce telemetry: {report.repo}", ""]
    verdict = "❌ some criteria fail" if report.failed else "✅ no criterion fails"
    out.append(f"**{verdict}**")
    for title, header, table_rows in _tables(report):
        out += ["", f"### {title}", ""]
        rows = table_rows
        if title == "Success criteria":
            rows = [
                [r[0], _EMOJI[next(k for k, v in _MARK.items() if v == r[1])], *r[2:]] for r in rows
            ]
        out.append("| " + " | ".join(h or " " for h in header) + " |")
        out.append("|" + "---|" * len(header))
        for row in rows:
            out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>buildonce telemetry: {esc(report.repo)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".pass{background:#e6f4ea}.fail{background:#fce8e6}</style></head><body>",
        f"<h1>buildonce telemetry: {esc(report.repo)}</h1>",
    ]
    for title, header, rows in _tables(report):
        parts.append(f"<h2>{esc(title)}</h2><table><tr>")
        parts += [f"<th>{esc(h)}</th>" for h in header]
        parts.append("</tr>")
        for row in rows:
            cls = ""
            if title == "Success criteria":
                cls = {"PASS": " class='pass'", "FAIL": " class='fail'"}.get(row[1], "")
            parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


FORMATTERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": lambda r: report_json_text(r) + "\n",
    "html": render_html,
}


def ranges_of(report: Report) -> Sequence[RangeStats]:
    return [r for r in (report.baseline, report.current) if r is not None]

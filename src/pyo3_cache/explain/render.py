"""Renderers of a ``RecompileReport``: terminal text, Markdown, JSON.

Package names, reasons, file names and variable values come from logs and
are treated as hostile: the Markdown renderer escapes every character that
could start HTML, a link, a mention, a table cell or a code fence
(``escape_markdown``), mermaid labels use mermaid's own entity escapes
(``escape_mermaid``), and the text renderer drops control characters and
defuses ``::`` so a log cannot forge a GitHub workflow command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from pyo3_cache.explain.reasons import CASCADE
from pyo3_cache.explain.report import RecompileReport, RootCause, Unit

MAX_TABLE_ROWS = 200
MAX_GRAPH_NODES = 60

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
# Everything that means something to Markdown, GFM autolinks/mentions or HTML.
# `(`, `-`, `.`, `!` and friends only matter at a line start or after `[`,
# which cannot happen inside our table cells and headings once `[` is escaped.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]#|~<>&@:$")


def _clean(text: object) -> str:
    """One line, no control or direction-override characters."""
    return _CONTROL.sub(" ", str(text)).strip()


def escape_markdown(text: object, *, max_length: int = 2000) -> str:
    """Make untrusted text inert in GitHub Markdown (tables, <details>, comments).

    Every character with a meaning (HTML, emphasis, links, autolinks, @mentions,
    #references, table pipes, fences) becomes a numeric entity, newlines and
    control characters become spaces, and the result is cut at ``max_length``
    characters of input.  Safe inside a table cell and inside <details>.
    """
    value = _clean(text)
    if len(value) > max_length:
        value = value[:max_length] + "…"
    escaped = "".join(f"&#{ord(ch)};" if ch in _MARKDOWN_SPECIAL else ch for ch in value)
    # GFM links bare www. names; break the pattern.
    return re.sub(r"(?i)(www)\.", r"\1&#46;", escaped)


def escape_mermaid(text: object, *, max_length: int = 120) -> str:
    """Make untrusted text safe inside a quoted mermaid label (``n1["..."]``).

    Mermaid's escape is ``#<decimal>;``; only letters, digits, space and
    ``._/-`` are kept as they are.
    """
    value = _clean(text)
    if len(value) > max_length:
        value = value[:max_length] + "..."
    return "".join(
        ch if (ch.isascii() and (ch.isalnum() or ch in " ._/-")) else f"#{ord(ch)};" for ch in value
    )


def _plain(text: object) -> str:
    """Untrusted text for a terminal / CI log line."""
    return _clean(text).replace("::", ": :")


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{seconds:.1f} s"


def _summary_line(report: RecompileReport) -> str:
    counts = report.counts
    n = report.number_of_invocations
    line = (
        f"{n} cargo invocation{'s' if n != 1 else ''}: {counts['fresh']} fresh, "
        f"{counts['rebuilt']} rebuilt, {counts['new']} new"
    )
    if counts.get("compiled"):
        line += f", {counts['compiled']} compiled (new or rebuilt)"
    if report.time_lost_seconds is not None:
        basis = {
            "timestamps": "from log timestamps",
            "cargo": "cargo's Finished time of the runs that rebuilt",
        }.get(report.time_basis or "", "estimated")
        line += f"; about {_duration(report.time_lost_seconds)} spent rebuilding ({basis})"
    return line


def _notes(report: RecompileReport) -> list[str]:
    notes = [s.note for s in report.sources if s.note and report.invocations]  # else in headline
    notes += report.notes
    if report.unexplained:
        notes.append(
            f"{report.unexplained} compiled unit(s) without a reason in the log: cargo says why "
            "only with verbose output (CARGO_TERM_VERBOSE=true, or `pyo3-cache run`)"
        )
    return notes


# --- text ---------------------------------------------------------------------


def _evidence(evidence: str | None) -> str:
    return {
        "target-dir": " (from the target dir's fingerprint records)",
        "log": " (from earlier builds in this log)",
        "cargo": " (from cargo's build-analysis log)",
    }.get(evidence or "", "")


def _failure_lines(report: RecompileReport) -> list[str]:
    return [
        f"cargo run {i.index} failed"
        + (f": could not compile `{i.failed_package}`" if i.failed_package else "")
        for i in report.failures
    ]


def render_text(report: RecompileReport) -> str:
    out = [f"pyo3-cache explain: {_plain(report.headline)}"]
    if report.invocations:
        out.append(f"  {_summary_line(report)}")
    for line in _failure_lines(report):
        out.append(f"  {_plain(line)}")
    for note in _notes(report):
        out.append(f"  note: {_plain(note)}")
    if report.root_causes:
        out.append("")
        out.append("Root causes:")
        for cause in report.root_causes:
            out.append(
                f"  {_plain(cause.package)} v{_plain(cause.version)}: {_plain(cause.reason)}"
            )
            if cause.old_value is not None or cause.new_value is not None:
                unset = "(unset)"
                old = cause.old_value if cause.old_value is not None else unset
                new = cause.new_value if cause.new_value is not None else unset
                out.append(f"      was: {_plain(old)}")
                out.append(f"      now: {_plain(new)}")
            if cause.cascade:
                out.append(f"      dragged along: {_plain(', '.join(cause.cascade))}")
            out.append(f"      hint: {_plain(cause.hint)}")
    if report.new_groups:
        out.append("")
        out.append("Compiled anew (no previous build with the same hash):")
        for group in report.new_groups:
            out.append(f"  {len(group.packages)} crate(s): {_plain(', '.join(group.packages))}")
            word = "why" if group.evidence else "likely"
            out.append(f"      {word}: {_plain(group.reason)}{_evidence(group.evidence)}")
            if group.cascade:
                out.append(f"      new with it: {_plain(', '.join(group.cascade))}")
            if group.rebuilt:
                out.append(f"      rebuilt because of it: {_plain(', '.join(group.rebuilt))}")
            out.append(f"      hint: {_plain(group.hint)}")
    return "\n".join(out) + "\n"


# --- markdown -----------------------------------------------------------------


def _md_values(cause: RootCause) -> str:
    if cause.old_value is None and cause.new_value is None:
        return ""
    old = escape_markdown(
        cause.old_value if cause.old_value is not None else "(unset)", max_length=300
    )
    new = escape_markdown(
        cause.new_value if cause.new_value is not None else "(unset)", max_length=300
    )
    return f"<br>was: {old}<br>now: {new}"


def _cascade_edges(report: RecompileReport) -> list[tuple[str, str, str | None]]:
    """(from, to, label) per rebuilt unit: dependency -> dependent."""
    edges: list[tuple[str, str, str | None]] = []
    seen: set[tuple[str, str]] = set()
    for unit in report.units:
        if unit.status != "rebuilt":
            continue
        if unit.kind == CASCADE:
            source = unit.dependency or unit.root_cause
            if source and source != unit.package and (source, unit.package) not in seen:
                seen.add((source, unit.package))
                edges.append((source, unit.package, None))
        elif ("", unit.package) not in seen:
            seen.add(("", unit.package))
            edges.append(("", unit.package, unit.reason))
    return edges


def _mermaid(report: RecompileReport) -> list[str]:
    edges = _cascade_edges(report)
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids) + 1}"
        return ids[name]

    lines = ["```mermaid", "graph LR"]
    causes = 0
    for source, target, label in edges:
        if len(ids) >= MAX_GRAPH_NODES:
            break
        if not source:
            causes += 1
            lines.append(
                f'  c{causes}(["{escape_mermaid(label or "changed")}"]) --> '
                f'{node(target)}["{escape_mermaid(target)}"]'
            )
        else:
            lines.append(
                f'  {node(source)}["{escape_mermaid(source)}"] --> '
                f'{node(target)}["{escape_mermaid(target)}"]'
            )
    lines.append("```")
    return lines


def _units_table(units: Iterable[Unit]) -> list[str]:
    rows = ["| Package | Status | Reason | Root cause |", "|---|---|---|---|"]
    shown = 0
    for unit in units:
        if unit.status == "fresh":
            continue
        shown += 1
        if shown > MAX_TABLE_ROWS:
            rows.append("| … | | | |")
            break
        rows.append(
            f"| {escape_markdown(unit.package)} {escape_markdown(unit.version)} "
            f"| {unit.status} | {escape_markdown(unit.reason or '', max_length=300)} "
            f"| {escape_markdown(unit.root_cause or '')} |"
        )
    return rows


def render_markdown(report: RecompileReport, *, title: str = "pyo3-cache explain") -> str:
    out = [f"### {escape_markdown(title)}: {escape_markdown(report.headline)}", ""]
    if report.invocations:
        out += [escape_markdown(_summary_line(report)), ""]
    for line in _failure_lines(report):
        out += [f"> **{escape_markdown(line)}**", ""]
    for note in _notes(report):
        out += [f"> {escape_markdown(note)}", ""]
    if report.root_causes:
        out += ["| Root cause | Package | Kind | Rebuilt | Hint |", "|---|---|---|---|---|"]
        for cause in report.root_causes:
            out.append(
                f"| {escape_markdown(cause.reason, max_length=400)}{_md_values(cause)} "
                f"| {escape_markdown(cause.package)} {escape_markdown(cause.version)} "
                f"| {escape_markdown(cause.kind)} | {report.cascade_size(cause)} "
                f"| {escape_markdown(cause.hint)} |"
            )
        out.append("")
    if report.new_groups:
        out += ["| Compiled anew | Reason | Hint |", "|---|---|---|"]
        for group in report.new_groups:
            members = [*group.packages, *group.cascade, *group.rebuilt]
            names = ", ".join(members[:40]) + (" …" if len(members) > 40 else "")
            out.append(
                f"| {len(members)}: {escape_markdown(names)} "
                f"| {escape_markdown(group.reason + _evidence(group.evidence))} "
                f"| {escape_markdown(group.hint)} |"
            )
        out.append("")
    if any(u.status != "fresh" for u in report.units):
        counts = report.counts
        out += [
            "<details><summary>Cascade: "
            f"{counts['rebuilt']} rebuilt, {counts['new']} new</summary>",
            "",
        ]
        if any(u.status == "rebuilt" for u in report.units):
            out += [*_mermaid(report), ""]
        out += [*_units_table(report.units), "", "</details>", ""]
    return "\n".join(out)


# --- json ---------------------------------------------------------------------


def render_json(report: RecompileReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def render(report: RecompileReport, fmt: str) -> str:
    return RENDERERS[fmt](report)

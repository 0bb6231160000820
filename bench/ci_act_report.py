"""Tables, target checks and the plot of ``ci_job.py --runner act`` (medians over rounds)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from _act_flows import FLOWS, LABELS

if TYPE_CHECKING:
    from ci_act import ActJob

BASE = "rust-cache"
# Issue 15's targets, ours / rust-cache's, per scenario (wall time), and on entry size.
WALL_TARGETS = {"warm": 0.5, "lock-bump": 1.0, "cold": 1.1}
OWN_MARGIN_S = 1.0  # our own time in a warm job <= rust-cache's own time + 1 s
# Our composite actions' step ids, as the tables name them.
PHASES = {
    "install": "install",
    "key": "keys (rust, entry paths, wheel)",
    "wheel-key": "wheel key",
    "wheel-check": "wheel check",
    "pin": "after-restore (unpack, mtimes, pin)",
    "prepare": "before-save (explain, prune, pack, audits)",
    "wheel-prepare": "wheel save check",
    "audit": "audits (bytecode, wheel tags)",
    "audit-wheels": "wheel tag audit",
    "unstage": "remove the staged entry",
    "sccache-install": "install sccache",
    "sccache-stop": "stop sccache",
    # as act names them (runs recorded before the phases were keyed by id)
    "Install pyo3-cache": "install",
    "Compute the cache key": "key",
    "Compute the wheel key": "wheel key",
    "Pin the PyO3 config and capture cargo output": "after-restore (unpack, mtimes, pin)",
    "Explain rebuilds, report and prune": "before-save (explain, prune, pack)",
    "Audit the wheels' bytecode": "bytecode audit",
    "install sccache": "install sccache",
}


def _by(jobs: list[ActJob]) -> dict[tuple[str, str, str], ActJob]:
    return {(j.project, j.scenario, j.flow): j for j in jobs}


def _ratio(a: float, b: float) -> str:
    return "-" if not b else f"{a / b:.2f}"


def _order(values: list[str], known: tuple[str, ...]) -> list[str]:
    return [v for v in known if v in values] + [v for v in dict.fromkeys(values) if v not in known]


def targets(jobs: list[ActJob]) -> list[str]:
    """One line per target and project: met or not, with the numbers."""
    valid = [j for j in jobs if not j.problem]
    by, out = _by(valid), []
    for j in jobs:
        if j.problem:
            out.append(f"{j.project} {j.scenario} {j.flow}: not measured ({j.problem})")
    for project in dict.fromkeys(j.project for j in valid):
        for scenario, limit in WALL_TARGETS.items():
            b, o = by.get((project, scenario, BASE)), by.get((project, scenario, "ours"))
            if b and o and b.wall_s:
                r = o.wall_s / b.wall_s
                verdict = "met" if r <= limit else "NOT met"
                out.append(
                    f"{project} {scenario} wall ≤ {limit}× rust-cache: {r:.2f}× "
                    f"({o.wall_s:.1f} s vs {b.wall_s:.1f} s) — {verdict}"
                )
        b, o = by.get((project, "warm", BASE)), by.get((project, "warm", "ours"))
        if b and o:
            ok = o.own_s <= b.own_s + OWN_MARGIN_S
            out.append(
                f"{project} warm own time ≤ rust-cache's + {OWN_MARGIN_S:.0f} s: "
                f"{o.own_s:.1f} s vs {b.own_s:.1f} s — {'met' if ok else 'NOT met'}"
            )
        b, o = by.get((project, "cold", BASE)), by.get((project, "cold", "ours"))
        if b and o and b.saved_bytes and o.saved_bytes:
            r = o.saved_bytes / b.saved_bytes
            out.append(
                f"{project} entry size ≤ 1.0× rust-cache's: {r:.2f}× "
                f"({o.saved_bytes / 1e6:.1f} MB vs {b.saved_bytes / 1e6:.1f} MB) "
                f"— {'met' if r <= 1.0 else 'NOT met'}"
            )
        for scenario in dict.fromkeys(j.scenario for j in valid if j.project == project):
            o = by.get((project, scenario, "ours"))
            others = [
                by[(project, scenario, f)]
                for f in FLOWS
                if f != "ours" and (project, scenario, f) in by
            ]
            if o and others:
                worse = [j.flow for j in others if j.wall_s < o.wall_s]
                out.append(
                    f"{project} {scenario} ours ≤ every baseline (wall): "
                    + ("met" if not worse else f"NOT met (faster: {', '.join(worse)})")
                )
    return out


def markdown(all_jobs: list[ActJob], meta: dict[str, Any]) -> str:
    from ci_act import medians

    jobs = medians(all_jobs)
    by = _by(jobs)
    rounds = max((j.round for j in jobs), default=1)
    out = [
        f"Medians of {rounds} round(s). Wall = the whole act job; ratios are ours / each flow.",
        "",
    ]
    for project in dict.fromkeys(j.project for j in jobs):
        flows = _order([j.flow for j in jobs if j.project == project], FLOWS)
        out += [
            f"**{project}** ({meta.get('projects', {}).get(project, '')})".replace(" ()", ""),
            "",
        ]
        head = " | ".join(f"{LABELS[f]} (s)" for f in flows)
        ratios = [f for f in flows if f != "ours" and "ours" in flows]
        out.append(
            f"| scenario | {head} | "
            + "".join(f"ours / {f} | " for f in ratios)
            + "crates compiled | restore |"
        )
        out.append("|---" * (3 + len(flows) + len(ratios)) + "|")
        for scenario in dict.fromkeys(j.scenario for j in jobs if j.project == project):
            row = [by.get((project, scenario, f)) for f in flows]
            o = by.get((project, scenario, "ours"))
            cells = [f"{j.wall_s:.1f}" if j else "-" for j in row]
            rates = [
                _ratio(o.wall_s, j.wall_s) if o and j else "-"
                for j in row
                if j and j.flow != "ours"
            ]
            crates = " / ".join(str(j.rebuilt) if j else "-" for j in row)
            restore = " / ".join(j.restore if j else "-" for j in row)
            out.append(
                f"| {scenario} | {' | '.join(cells)} | "
                + "".join(f"{r} | " for r in rates)
                + f"{crates} | {restore} |"
            )
        out.append("")
        out += _own_table(by, project, flows)
        sizes = [
            f"{LABELS[f]} {by[(project, 'cold', f)].saved_bytes / 1e6:.1f} MB"
            for f in flows
            if (project, "cold", f) in by and by[(project, "cold", f)].saved_bytes
        ]
        if sizes:
            out += ["Entry saved by the cold job, as stored: " + ", ".join(sizes) + ".", ""]
        stats = [f"{j.scenario} {j.stats}" for j in jobs if j.project == project and j.stats]
        if stats:
            out += ["Counts: " + "; ".join(stats) + ".", ""]
        changes = {j.scenario: j.note for j in jobs if j.project == project and j.note}
        if changes:
            out += ["Changes: " + "; ".join(f"{k}: {v}" for k, v in changes.items()) + ".", ""]
    lines = targets(jobs)
    if lines:
        out += ["Targets (issue 15, 16):", ""] + [f"- {line}" for line in lines] + [""]
    return "\n".join(out)


def _own_table(by: dict[tuple[str, str, str], ActJob], project: str, flows: list[str]) -> list[str]:
    """The cache tool's own time per phase, warm and cold jobs (transfer separately)."""
    out = [
        "| job | flow | own time (s) | our archive (un)pack (s) | transfer (s) | build (s) "
        "| own phases (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in ("warm", "multi-warm", "cold", "lock-bump"):
        for flow in flows:
            j = by.get((project, scenario, flow))
            if j is None:
                continue
            phases = ", ".join(
                f"{PHASES.get(k, k)} {v:.2f}" for k, v in j.phases.items() if v >= 0.005
            )
            out.append(
                f"| {scenario} | {LABELS[flow]} | {j.own_s:.2f} "
                f"| {j.archive_s:.2f} | {j.transfer_s:.2f} "
                f"| {j.build_s:.1f} | {phases} |"
            )
    return [*out, ""]


def plot(all_jobs: list[ActJob], folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ci_act import medians

    jobs = medians(all_jobs)
    by = _by(jobs)
    projects = list(dict.fromkeys(j.project for j in jobs))
    flows = _order([j.flow for j in jobs], FLOWS)
    colors = {
        "rust-cache": "#9a9a9a",
        "base-python": "#6f8fb3",
        "sccache": "#b3a36f",
        "ours": "#d9651c",
    }
    fig, axes = plt.subplots(1, len(projects), figsize=(3.6 * len(projects), 3.0), squeeze=False)
    for ax, project in zip(axes[0], projects):
        scenarios = list(dict.fromkeys(j.scenario for j in jobs if j.project == project))
        here = _order([j.flow for j in jobs if j.project == project], FLOWS)
        width = 0.8 / len(here)
        for i, flow in enumerate(here):
            found = [by.get((project, s, flow)) for s in scenarios]
            values = [j.wall_s if j and not j.problem else 0 for j in found]  # invalid: no bar
            xs = [k - 0.4 + width * (i + 0.5) for k in range(len(scenarios))]
            ax.bar(xs, values, width, label=LABELS[flow], color=colors.get(flow, "#444444"))
        ax.set_title(project, fontsize=9)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel("job wall time under act (s)", fontsize=8)
    handles, labels = max(
        (ax.get_legend_handles_labels() for ax in axes[0]), key=lambda h: len(h[0])
    )
    fig.legend(handles, labels, loc="upper center", ncol=len(flows), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ci-job-act-wall-time.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The grading report and its files: ``grades.csv``, ``grades.md``, ``grades.json``, ``grades.html`` and
``grades_pass_rate.png``.

``grades.csv`` and ``grades.json`` hold the detailed table of :mod:`asclab.course.table`. ``grades.md`` and
``grades.html`` show a narrow one: the student, the score and one column per notebook, whose cell says how
the run ended, each of its exercises with ✓ or ✗, and how many of its metrics fell inside their bands
(``ok · mixup ✓ · fmix_threshold ✗ · metrics 9/10``), so the six lessons take eight columns in all; each
student's section then lists every failure and every metric with its value and band. ``grades.html`` colours
each notebook's cell (all passed, some, none or the run did not finish) and adds a bar chart of each
exercise's pass rate over the class (also saved as ``grades_pass_rate.png``).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from asclab.course.bands import flatten_metrics
from asclab.course.outcomes import STATUS_TEXT
from asclab.course.reference import regenerate_command
from asclab.course.table import Column, GradeRow
from asclab.course.text import md_cell
from asclab.storage import atomic_write_bytes, atomic_write_text, write_json


# --- the report ---------------------------------------------------------------------------------------
@dataclass
class GradeReport:
    """The result of :func:`asclab.course.grading.grade`.

    ``ok`` is True when grading completed: every submission was run and judged, whatever the students
    scored. It is False only when the grader itself failed on a submission (``errors``, e.g. no Jupyter
    kernel), which ``asclab grade`` turns into exit status 1.
    """
    profile: str
    rows: list[GradeRow]
    columns: list[Column]
    out_dir: Path
    csv_path: Path
    md_path: Path
    json_path: Path
    reference: str                      # where the reference came from (a path even when it was missing)
    reference_found: bool
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    layout: str = "folders"
    html_path: Path | None = None
    chart_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def row(self, student: str) -> GradeRow:
        for r in self.rows:
            if r.student == student:
                return r
        raise KeyError(student)

    def to_json(self) -> dict:
        return {"profile": self.profile, "ok": self.ok, "layout": self.layout, "reference": self.reference,
                "reference_found": self.reference_found, "errors": self.errors, "skipped": self.skipped,
                "columns": [{"label": c.label, "kind": c.kind, "notebook": c.notebook, "key": c.key,
                             "band": c.band} for c in self.columns],
                "exercise_pass_rates": {label: {"notebook": nb, "passed": p, "students": n}
                                        for label, nb, p, n in exercise_pass_rates(self)},
                "rows": [r.to_json() for r in self.rows]}


# --- the readable table: a column per notebook (pure) ------------------------------------------------
PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class SummaryColumn:
    """One notebook in grades.md and grades.html: its status, its exercises and its metrics in one cell."""
    notebook: str                                  # the notebook stem, also the header
    exercises: tuple[tuple[str, str], ...] = ()    # (label of the detailed column, exercise name)
    metrics: tuple[str, ...] = ()                  # labels of its banded metric columns (none: no reference)

    @property
    def label(self) -> str:
        return self.notebook


def summary_columns(columns: list[Column]) -> list[SummaryColumn]:
    """One column per notebook, in table order: the narrow table of grades.md and grades.html."""
    def of(stem: str, kind: str) -> list[Column]:
        return [c for c in columns if c.notebook == stem and c.kind == kind]

    return [SummaryColumn(c.notebook, tuple((e.label, e.key) for e in of(c.notebook, "exercise")),
                          tuple(m.label for m in of(c.notebook, "metric")))
            for c in columns if c.kind == "notebook"]


def _exercise_mark(cell: str) -> str:
    """``✓``, ``✗``, ``missing`` (ran to the end without the check) or ``not run`` (stopped before it)."""
    return {"pass": PASS, "fail": FAIL, "missing": "missing"}.get(cell, "not run")


def summary_cell(row: GradeRow, column: SummaryColumn) -> str:
    """``ok · mixup ✓ · fmix_threshold ✗ · metrics 9/10``, ``crashed: KeyError in cell 4 · kd_loss ✓ ·
    metrics 0/10``, ``ok · no reference``; ``missing`` when the student did not submit the notebook."""
    status = row.cells[column.notebook]
    if status == STATUS_TEXT["missing"]:
        return status
    parts = [status] + [f"{name} {_exercise_mark(row.cells[label])}" for label, name in column.exercises]
    if column.metrics:
        parts.append(f"metrics {sum(row.cells[m] == 'pass' for m in column.metrics)}/{len(column.metrics)}")
    else:
        parts.append("no reference")
    return " · ".join(parts)


def summary_verdict(row: GradeRow, column: SummaryColumn) -> str:
    """``pass`` (ran to the end, every exercise and metric passed), ``partial`` (ran to the end, some
    passed) or ``fail`` (nothing passed, or the run did not finish): the colour of its cell in grades.html."""
    counted = [label for label, _ in column.exercises] + list(column.metrics)
    passed = sum(row.cells[label] == "pass" for label in counted)
    if row.cells[column.notebook] != STATUS_TEXT["ok"]:
        return "fail"
    if passed == len(counted):
        return "pass"
    return "partial" if passed else "fail"


def exercise_pass_rates(report: GradeReport) -> list[tuple[str, str, int, int]]:
    """``(exercise label, notebook, students who passed, students)`` per exercise column, in table order."""
    n = len(report.rows)
    return [(c.label, c.notebook, sum(r.cells[c.label] == "pass" for r in report.rows), n)
            for c in report.columns if c.kind == "exercise"]


def pass_rate_png(report: GradeReport) -> bytes | None:
    """A horizontal bar chart of each exercise's pass rate over the class, as PNG bytes (None: no exercises).

    Drawn on a bare matplotlib Figure, so it neither needs nor changes pyplot's backend."""
    rates = exercise_pass_rates(report)
    if not rates or not report.rows:
        return None
    labels = [f"{label} ({notebook[:2]})" for label, notebook, _, _ in rates]
    percent = [100 * passed / n for _, _, passed, n in rates]
    fig = Figure(figsize=(7, 0.45 * len(rates) + 1.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = list(range(len(rates)))[::-1]            # the first exercise on top, as in the table
    colors = ["#2e7d32" if p >= 80 else "#f9a825" if p >= 50 else "#c62828" for p in percent]
    ax.barh(y, percent, color=colors)
    for yi, p, (_, _, passed, n) in zip(y, percent, rates, strict=True):
        ax.text(min(p, 100) + 1, yi, f"{passed}/{n}", va="center", fontsize=9)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 112)
    ax.set_xlabel("students who passed (%)")
    ax.set_title(f"pass rate per exercise ({len(report.rows)} students, profile {report.profile})")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def metric_details(row: GradeRow, columns: list[Column]) -> list[tuple[str, str, str, str, str]]:
    """``(notebook, metric, value, band, verdict)`` for every banded metric of a row."""
    details = []
    for c in columns:
        if c.kind != "metric":
            continue
        o = row.notebooks.get(c.notebook)
        flat = flatten_metrics(o.metrics) if o is not None and isinstance(o.metrics, dict) else {}
        value = f"{flat[c.key]:.4g}" if c.key in flat else "—"
        band = f"[{c.band['low']:.4g}, {c.band['high']:.4g}]"
        details.append((c.notebook, c.key, value, band, row.cells[c.label]))
    return details


# --- grades.csv and grades.md -------------------------------------------------------------------------
def grades_csv(columns: list[Column], rows: list[GradeRow]) -> str:
    """Wide, for a spreadsheet: a row per student, a column per notebook, exercise and metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *(c.label for c in columns), "passed", "total"])
    for r in rows:
        writer.writerow([r.student, *(r.cells[c.label] for c in columns), r.passed, r.total])
    return buf.getvalue()


def _reference_sentence(report: GradeReport) -> str:
    if report.reference_found:
        return f"Metrics are compared with the bands in `{report.reference}`."
    return (f"No reference at `{report.reference}`: metrics were not compared (\"no reference\"), only the "
            f"exercises count. Generate it with `{regenerate_command(report.profile, [0, 1, 2])}`.")


LEGEND = ("A notebook's cell says how its run ended (ok, crashed: <Error> in cell N, timeout, invalid "
          "notebook, missing), then each of its exercises: ✓ passed, ✗ failed (a check that ran before a "
          "crash or a timeout keeps its verdict), missing (the notebook ran to the end without the check) or "
          "not run (the notebook stopped before it), then how many of its metrics fell inside their "
          "reference bands. Score: passed exercises and metrics over all of them; a metric that was never "
          "produced fails. Each failure, and each metric's value and band, is in the student's section; "
          "grades.csv has a column per exercise and per metric.")


def _markdown_details(r: GradeRow, columns: list[Column]) -> list[str]:
    """A student's section of grades.md: the notes, then the metrics in a folded table."""
    lines = [f"### {r.student}: {r.score}", ""]
    lines += [f"- {md_cell(n)}" for n in r.notes] or ["- all passed"]
    details = metric_details(r, columns)
    if details:
        inside = sum(d[4] == "pass" for d in details)
        lines += ["", f"<details><summary>metrics: {inside} of {len(details)} inside their bands"
                  "</summary>", "", "| notebook | metric | value | band | verdict |",
                  "|---|---|---:|---|---|"]
        lines += ["| " + " | ".join(md_cell(x) for x in d) + " |" for d in details]
        lines += ["", "</details>"]
    return lines + [""]


def grades_markdown(report: GradeReport) -> str:
    summary = summary_columns(report.columns)
    lines = [f"# asclab grades: profile `{report.profile}`", "",
             _reference_sentence(report) + f" Layout: {report.layout}.", "",
             "| student | score | " + " | ".join(md_cell(c.label) for c in summary) + " |",
             "|---|---:|" + "---|" * len(summary)]
    for r in report.rows:
        cells = [summary_cell(r, c) for c in summary]
        lines.append(f"| {md_cell(r.student)} | {r.score} | " + " | ".join(md_cell(c) for c in cells) + " |")
    lines += ["", LEGEND]
    rates = exercise_pass_rates(report)
    if rates:
        lines += ["", "Pass rate per exercise: " + ", ".join(f"{label} {p}/{n}" for label, _, p, n in rates)
                  + " (the chart is in grades.html)."]
    if report.errors:
        lines += ["", "## Grader errors", ""] + [f"- {md_cell(e)}" for e in report.errors]
    if report.skipped:
        lines += ["", "## Skipped", ""] + [f"- {md_cell(s)}" for s in report.skipped]
    lines += ["", "## Details", ""]
    for r in report.rows:
        lines += _markdown_details(r, report.columns)
    return "\n".join(lines).rstrip() + "\n"


# --- grades.html --------------------------------------------------------------------------------------
_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
th { background: #f3f3f3; }
td.pass { background: #e8f5e9; }
td.fail { background: #ffebee; }
td.partial { background: #fff8e1; }
p.legend { max-width: 60em; color: #555; font-size: 0.9em; }
"""


def _html_code(text: str) -> str:
    """Escaped text with its `code` spans as <code>."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))


def _html_details(r: GradeRow, columns: list[Column]) -> list[str]:
    """A student's section of grades.html: the notes, then the metrics in a folded table."""
    e = html.escape
    parts = [f"<h3>{e(r.student)}: {r.score}</h3><ul>"
             + ("".join(f"<li>{e(n)}</li>" for n in r.notes) or "<li>all passed</li>") + "</ul>"]
    details = metric_details(r, columns)
    if details:
        inside = sum(d[4] == "pass" for d in details)
        parts.append(f"<details><summary>metrics: {inside} of {len(details)} inside their bands</summary>"
                     "<table><tr><th>notebook</th><th>metric</th><th>value</th><th>band</th>"
                     "<th>verdict</th></tr>")
        parts += ["<tr>" + "".join(f"<td>{e(x)}</td>" for x in d[:4])
                  + f"<td class='{'pass' if d[4] == 'pass' else 'fail'}'>{e(d[4])}</td></tr>"
                  for d in details]
        parts.append("</table></details>")
    return parts


def grades_html(report: GradeReport, chart: bytes | None) -> str:
    """A self-contained page: the readable table, the pass-rate chart (a base64 PNG), each student's
    details."""
    e = html.escape
    summary = summary_columns(report.columns)
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>asclab grades: {e(report.profile)}</title><style>{_HTML_STYLE}</style></head><body>",
             f"<h1>asclab grades: profile <code>{e(report.profile)}</code></h1>",
             f"<p>{_html_code(_reference_sentence(report))} Layout: {e(report.layout)}. "
             f"{len(report.rows)} student(s).</p>"]
    if chart is not None:
        parts.append("<h2>Pass rate per exercise</h2><img alt='pass rate per exercise' "
                     f"src='data:image/png;base64,{base64.b64encode(chart).decode()}'>")
    else:
        parts.append("<p>No exercise was graded: no pass-rate chart.</p>")
    parts.append("<h2>Grades</h2><table><tr><th>student</th><th>score</th>"
                 + "".join(f"<th>{e(c.label).replace('_', '_<wbr>')}</th>" for c in summary) + "</tr>")
    for r in report.rows:
        parts.append(f"<tr><td>{e(r.student)}</td><td>{r.score}</td>"
                     + "".join(f"<td class='{summary_verdict(r, c)}'>{e(summary_cell(r, c))}</td>"
                               for c in summary) + "</tr>")
    parts += ["</table>", f"<p class='legend'>{e(LEGEND)}</p>"]
    for title, items in (("Grader errors", report.errors), ("Skipped", report.skipped)):
        if items:
            parts.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    parts.append("<h2>Details</h2>")
    for r in report.rows:
        parts += _html_details(r, report.columns)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: GradeReport) -> None:
    """grades.csv, grades.md, grades.json, grades.html and (with exercises) grades_pass_rate.png."""
    atomic_write_text(report.csv_path, grades_csv(report.columns, report.rows))
    atomic_write_text(report.md_path, grades_markdown(report))
    write_json(report.json_path, report.to_json())
    chart = pass_rate_png(report)
    if report.chart_path is not None:
        if chart is not None:
            atomic_write_bytes(report.chart_path, chart)
        else:
            report.chart_path.unlink(missing_ok=True)
    if report.html_path is not None:
        atomic_write_text(report.html_path, grades_html(report, chart))

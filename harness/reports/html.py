"""A self-contained HTML page for a load run (plots embedded as PNG, no external assets)."""

from __future__ import annotations

from html import escape

from harness.reports.load import Figures, LoadReport
from harness.reports.plots import (
    cpu_plot,
    health_plot,
    latency_plot,
    outcome_plot,
    throughput_plot,
)

__all__ = ["page", "render_html", "table"]

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right;font-size:13px}th{background:#f3f3f3}td:first-child{text-align:left}
.fail{color:#b00;font-weight:600}.pass{color:#070}.warn{background:#fff3cd;padding:.5em}
img{max-width:100%}"""


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{h}</tr>{b}</table>"


def _lat(f: Figures, q: str) -> str:
    return f"{getattr(f.latency, q):.2f}" if f.latency else "–"


def figures_rows(rows: dict[str, Figures]) -> list[list[str]]:
    return [[escape(n), str(f.requests), f"{f.rps:.1f}", _lat(f, "p50"), _lat(f, "p95"),
             _lat(f, "p99"), _lat(f, "max"), f"{f.limited_ratio:.2%}", f"{f.error_ratio:.2%}",
             escape(", ".join(f"{k}:{v}" for k, v in f.statuses.items()))]
            for n, f in rows.items()]


_HEAD = ["", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "limited", "failed",
         "statuses"]


def _img(b64: str | None, alt: str) -> str:
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{b64}'>" if b64 else ""


def render_html(r: LoadReport) -> str:
    parts = [f"<h1>Load run <code>{escape(r.profile)}</code></h1>",
             f"<p>{escape(r.profile_description)}</p>", f"<p><b>{escape(r.summary)}</b></p>"]
    if not r.complete:
        parts.append(f"<p class='warn'>Incomplete: {escape(r.incomplete_reason or '')}</p>")
    if r.generator is not None and r.generator.saturated:
        parts.append(f"<p class='warn'>{escape(r.generator.note)}</p>")
    t = r.target
    parts.append(table(["target", "gateway", "version", "config hash", "git", "machine"], [[
        escape(f"{t.name} ({t.kind}) {t.proxy_url}"), escape(t.gateway_impl),
        escape(t.gateway_version), escape(t.config_hash[:16]),
        escape(t.git_revision[:12] + (" dirty" if t.git_dirty else "")),
        escape(f"{t.machine.hostname}, {t.machine.cores} cores, {t.machine.cpu}")]]))
    parts += [f"<p class='note'>Before the run: {escape(p)}</p>" for p in r.preparation]
    if r.slo is not None:
        rows = [[escape(v.name), escape(v.objective),
                 "no data" if v.observed is None else f"{v.observed:.4g}",
                 "<span class='pass'>pass</span>" if v.passed else
                 "<span class='fail'>FAIL</span>"] for v in r.slo.verdicts]
        parts += [f"<h2>SLOs ({escape(str(r.slo.section))})</h2>",
                  table(["objective", "threshold", "observed", "verdict"], rows)]
    if r.totals:
        parts += ["<h2>Totals</h2>", table(_HEAD, figures_rows({"all": r.totals}))]
    parts += ["<h2>Per tier</h2>", table(_HEAD, figures_rows(r.per_tier)),
              "<h2>Per route</h2>", table(_HEAD, figures_rows(r.per_route)),
              "<h2>Per tenant</h2>",
              "<p>Counts only: latencies are recorded per tier and route, not per tenant.</p>",
              table(["tenant", "requests", "rps", "limited", "failed", "statuses"],
                    [row[:3] + row[7:] for row in figures_rows(r.per_tenant)])]
    if r.isolation is not None:
        iso = r.isolation
        rows = [[escape(k), _lat(iso.baseline[k], "p95") if k in iso.baseline else "–",
                 _lat(iso.during[k], "p95"),
                 "–" if iso.p95_change.get(k) is None else f"{iso.p95_change[k]:+.0%}",
                 str(iso.during[k].limited), str(iso.during[k].failed)]
                for k in iso.during]
        parts += ["<h2>Noisy-neighbour isolation</h2>", f"<p>{escape(iso.summary)}</p>",
                  table(["tier", "p95 without flood (ms)", "p95 during flood (ms)", "change",
                         "limited during", "failed during"], rows),
                  "<p>Without flood: the busiest stage with no flooding user (before or "
                  "after the flood); during: the busiest stage with it. Small stages make "
                  "p95 noisy; a tier counts as affected when it is limited or fails, or its "
                  "p95 rises by more than half.</p>"]
    for st in r.per_stage:
        parts += [f"<h3>Stage {st.index} ({st.start_s:g}–{st.end_s:g} s, users "
                  f"{escape(str(st.users))})</h3>", table(_HEAD, figures_rows(st.per_tier))]
    runs = [("", r)]
    parts += ["<h2>Latency over time</h2>", _img(latency_plot(runs), "latency"),
              "<h2>Throughput</h2>", _img(throughput_plot(runs), "throughput"),
              "<h2>429s and errors</h2>", _img(outcome_plot(runs), "outcomes")]
    health = health_plot(runs)
    parts += ["<h2>Upstream health</h2>", _img(health, "health") if health else
              f"<p>No Prometheus figures: "
              f"{escape((r.prometheus.error if r.prometheus else None) or 'not queried')}</p>"]
    if r.events:
        parts += ["<h3>Fault events</h3>", table(["at s", "instance", "faults", "result"], [
            [str(e.get("at")), escape(str(e.get("instance"))), escape(str(e.get("faults"))),
             escape(str(e.get("result")))] for e in r.events])]
    if r.prometheus is not None and r.prometheus.available:
        parts += ["<h2>Client vs Prometheus</h2>", table(
            ["figure", "client", "server", "flag"],
            [[escape(c.what), f"{c.client:g}", "–" if c.server is None else f"{c.server:g}",
              "<span class='fail'>disagree</span>" if c.flagged else ""]
             for c in r.prometheus.comparisons])]
    parts += ["<h2>Load generator</h2>", f"<p>{escape(r.generator.note)}</p>"
              if r.generator else "", _img(cpu_plot(runs), "cpu")]
    if r.failure_reasons:
        parts += ["<h2>Failures</h2>", table(["reason", "count"], [
            [escape(k), str(v)] for k, v in r.failure_reasons.items()])]
    return page(f"load {r.profile} {r.started_at}", "\n".join(parts))

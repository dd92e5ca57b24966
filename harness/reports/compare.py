"""`harness report compare OLD NEW`: every figure of two load runs with its change; the
ones that got worse beyond tolerance are regressions (exit code 1), as wallarm's
compare-runs does. Works on the typed reports, never on their text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.reports.html import page, table
from harness.reports.load import Figures, LoadReport
from harness.reports.plots import cpu_plot, latency_plot, outcome_plot, throughput_plot

__all__ = ["Row", "Tolerances", "compare", "render_compare_html", "render_compare_text"]


@dataclass(frozen=True)
class Tolerances:
    """What counts as a regression. Latency needs both a relative and an absolute step, so
    sub-millisecond noise never flags; ratios compare in absolute points."""

    latency_rel: float = 0.25
    latency_abs_ms: float = 2.0
    throughput_rel: float = 0.15
    error_abs: float = 0.005
    limited_abs: float = 0.05
    min_samples: int = 20      # fewer 2xx in either run: latency is shown, never flagged


@dataclass(frozen=True)
class Row:
    figure: str            # e.g. "tier.enterprise.p95_ms"
    old: float | None
    new: float | None
    regression: bool
    note: str = ""

    @property
    def change(self) -> str:
        if self.old is None or self.new is None:
            return "n/a"
        if self.old == 0:
            return "±0" if self.new == 0 else f"+{self.new:g}"
        return f"{(self.new / self.old - 1):+.1%}"


def _figures(prefix: str, old: Figures | None, new: Figures | None, tol: Tolerances,
             duration_comparable: bool) -> list[Row]:
    rows: list[Row] = []
    enough = bool(old and old.latency and old.latency.count >= tol.min_samples
                  and new and new.latency and new.latency.count >= tol.min_samples)
    for q in ("p50", "p95", "p99"):
        o = getattr(old.latency, q) if old and old.latency else None
        n = getattr(new.latency, q) if new and new.latency else None
        worse = (o is not None and n is not None and n > o * (1 + tol.latency_rel)
                 and n - o > tol.latency_abs_ms)
        bad = enough and worse
        # Say why a big rise is not flagged, so a reader does not take it for a pass.
        note = (f"> +{tol.latency_rel:.0%} and +{tol.latency_abs_ms:g} ms" if bad else
                f"not judged: under {tol.min_samples} 2xx in a run" if worse else "")
        rows.append(Row(f"{prefix}.{q}_ms", o, n, bad, note))
    o_rps, n_rps = (old.rps if old else None), (new.rps if new else None)
    # Closed-model throughput is noisy on small slices: only judged on >= 5x min_samples.
    bad = (duration_comparable and o_rps is not None and n_rps is not None
           and old is not None and new is not None
           and min(old.requests, new.requests) >= 5 * tol.min_samples
           and n_rps < o_rps * (1 - tol.throughput_rel))
    rows.append(Row(f"{prefix}.rps", o_rps, n_rps, bad,
                    f"< -{tol.throughput_rel:.0%}" if bad else ""))
    o_err, n_err = (old.error_ratio if old else None), (new.error_ratio if new else None)
    bad = o_err is not None and n_err is not None and n_err - o_err > tol.error_abs
    rows.append(Row(f"{prefix}.error_ratio", o_err, n_err, bad,
                    f"> +{tol.error_abs:g}" if bad else ""))
    o_l, n_l = (old.limited_ratio if old else None), (new.limited_ratio if new else None)
    bad = o_l is not None and n_l is not None and n_l - o_l > tol.limited_abs
    rows.append(Row(f"{prefix}.limited_ratio", o_l, n_l, bad,
                    f"> +{tol.limited_abs:g} (limits hit more often)" if bad else ""))
    if (old is None) != (new is None):
        rows.append(Row(f"{prefix}.present", float(old is not None), float(new is not None),
                        False, "only in one run"))
    return rows


def compare(old: LoadReport, new: LoadReport, tol: Tolerances = Tolerances()) -> list[Row]:
    rows: list[Row] = []
    same_shape = old.stages == new.stages
    rows += _figures("total", old.totals, new.totals, tol, same_shape)
    for kind in sorted(set(old.per_tier) | set(new.per_tier)):
        rows += _figures(f"tier.{kind}", old.per_tier.get(kind), new.per_tier.get(kind), tol,
                         same_shape)
    for route in sorted(set(old.per_route) | set(new.per_route)):
        rows += _figures(f"route.{route}", old.per_route.get(route), new.per_route.get(route),
                         tol, same_shape)
    if old.slo is not None and new.slo is not None:
        rows.append(Row("slo.passed", float(old.slo.passed), float(new.slo.passed),
                        old.slo.passed and not new.slo.passed,
                        "SLOs passed before, fail now" if old.slo.passed and not new.slo.passed
                        else ""))
    if new.generator is not None and new.generator.saturated:
        rows.append(Row("generator.saturated", float(bool(old.generator and
                                                          old.generator.saturated)), 1.0, False,
                        "the new run was load-generator bound: its figures are not the gateway's"))
    return rows


def identity_notes(old: LoadReport, new: LoadReport) -> list[str]:
    notes = []
    if old.profile != new.profile:
        notes.append(f"different profiles: {old.profile} vs {new.profile}")
    if old.stages != new.stages:
        notes.append("the profile's stages differ: throughput is not compared")
    if old.target.config_hash != new.target.config_hash:
        notes.append(f"gateway config changed: {old.target.config_hash[:12]} -> "
                     f"{new.target.config_hash[:12]}")
    if old.target.gateway_impl != new.target.gateway_impl or \
            old.target.gateway_version != new.target.gateway_version:
        notes.append(f"gateway: {old.target.gateway_impl} {old.target.gateway_version} -> "
                     f"{new.target.gateway_impl} {new.target.gateway_version}")
    if old.target.machine.hostname != new.target.machine.hostname:
        notes.append(f"different machines: {old.target.machine.hostname} vs "
                     f"{new.target.machine.hostname}")
    for label, r in (("old", old), ("new", new)):
        if not r.complete:
            notes.append(f"the {label} run is incomplete: {r.incomplete_reason}")
    return notes


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.4g}"


def render_compare_text(old: LoadReport, new: LoadReport, rows: list[Row]) -> str:
    width = max(len(r.figure) for r in rows) if rows else 10
    out = [f"compare {old.profile} {old.started_at} -> {new.started_at}"]
    out += [f"note: {n}" for n in identity_notes(old, new)]
    out.append(f"{'figure':<{width}}  {'old':>10}  {'new':>10}  {'change':>8}  verdict")
    for r in rows:
        verdict = "REGRESSION " + r.note if r.regression else r.note
        out.append(f"{r.figure:<{width}}  {_fmt(r.old):>10}  {_fmt(r.new):>10}  "
                   f"{r.change:>8}  {verdict}".rstrip())
    bad = [r for r in rows if r.regression]
    out.append(f"{len(bad)} regression(s)" + (": " + ", ".join(r.figure for r in bad)
                                              if bad else ""))
    return "\n".join(out) + "\n"


def render_compare_html(old: LoadReport, new: LoadReport, rows: list[Row]) -> str:
    from html import escape

    from harness.reports.html import _img

    runs = [("old", old), ("new", new)]
    body = [f"<h1>Compare <code>{escape(old.profile)}</code>: {escape(old.started_at)} → "
            f"{escape(new.started_at)}</h1>"]
    body += [f"<p class='warn'>{escape(n)}</p>" for n in identity_notes(old, new)]
    bad = [r for r in rows if r.regression]
    body.append(f"<p><b>{len(bad)} regression(s)</b></p>")
    body.append(table(["figure", "old", "new", "change", "verdict"], [
        [escape(r.figure), _fmt(r.old), _fmt(r.new), r.change,
         f"<span class='fail'>REGRESSION {escape(r.note)}</span>" if r.regression
         else escape(r.note)] for r in rows]))
    body += ["<h2>Latency over time (solid old, dashed new)</h2>", _img(latency_plot(runs), "l"),
             "<h2>Throughput</h2>", _img(throughput_plot(runs), "t"),
             "<h2>429s and errors</h2>", _img(outcome_plot(runs), "o"),
             "<h2>Load generator CPU</h2>", _img(cpu_plot(runs), "c")]
    return page(f"compare {old.profile}", "\n".join(body))


def default_html_path(new_json: Path) -> Path:
    return new_json.with_name(new_json.stem + ".compare.html")

"""Cheap Prometheus text exposition for the stubs and services (no client library
on the hot path: one dict increment per request)."""

from __future__ import annotations

__all__ = ["RequestMetrics"]

_MAX_PATHS = 200  # hostile paths must not grow the series without bound


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class RequestMetrics:
    def __init__(self, prefix: str, labels: dict[str, str]) -> None:
        self.prefix = prefix
        self._const = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        self.counts: dict[tuple[str, int], int] = {}
        self._paths: set[str] = set()

    def observe(self, path: str, status: int) -> None:
        if path not in self._paths:
            if len(self._paths) >= _MAX_PATHS:
                path = "other"
            else:
                self._paths.add(path)
        key = (path, status)
        self.counts[key] = self.counts.get(key, 0) + 1

    def render(self) -> str:
        name = f"{self.prefix}_http_requests_total"
        lines = [f"# HELP {name} Requests answered, by path and status.",
                 f"# TYPE {name} counter"]
        sep = "," if self._const else ""
        for (path, status), n in sorted(self.counts.items()):
            lines.append(f'{name}{{{self._const}{sep}path="{_esc(path)}",status="{status}"}} {n}')
        return "\n".join(lines) + "\n"

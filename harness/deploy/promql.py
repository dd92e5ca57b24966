"""Metric names referenced by a PromQL expression (a small lexer, not a parser).

Enough to check dashboards and alert rules against the exported metric list:
string literals, label matchers, range/offset durations, grouping clauses and
function calls are removed; the identifiers left are metric names.
"""

from __future__ import annotations

import re

__all__ = ["metric_names"]

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
# by (...), without (...), on (...), ignoring (...), group_left (...), group_right (...)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_FUNC_CALL = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
_IDENT = re.compile(r"(?<![0-9.a-zA-Z_:])[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "bool", "offset", "inf", "nan", "Inf", "NaN", "atan2"})
# Grafana template variables ($__rate_interval, ${tier}, $service) are not metric names.
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*")


def metric_names(expr: str) -> set[str]:
    """Return the metric names an expression selects.

    >>> sorted(metric_names('sum by (service) (rate(kong_http_requests_total{code=~"5.."}[5m]))'))
    ['kong_http_requests_total']
    """
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VAR.sub("1", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _FUNC_CALL.sub("(", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        if word in _KEYWORDS or re.fullmatch(r"[0-9]+[smhdwy]", word):
            continue
        names.add(word)
    return names

"""Listener ports are picked below the kernel's ephemeral range, once each, in one place."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

from harness.stack import native, ports
from harness.stack.ports import ephemeral_low, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_free_port_is_below_the_ephemeral_range_and_bindable():
    low = ephemeral_low()
    for _ in range(20):
        port = free_port()
        assert 1024 <= port < low, f"{port} is not below the ephemeral range ({low}..)"
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_free_port_never_hands_out_the_same_port_twice():
    ports = [free_port() for _ in range(100)]
    assert len(set(ports)) == len(ports)


def test_free_port_skips_a_port_something_already_listens_on(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with socket.socket() as probe:    # a port nothing holds, to pick after the busy one
            probe.bind(("127.0.0.1", 0))
            spare = probe.getsockname()[1]
        picks = iter([taken, taken, spare])
        monkeypatch.setattr(ports.random, "randint", lambda _a, _b: next(picks))
        assert free_port() == spare


def test_native_stack_reexports_the_one_free_port():
    assert native.free_port is free_port


def test_no_module_under_harness_tests_or_bench_defines_its_own_port_picker():
    # A bind-0-then-close copy picks from the ephemeral range: the race ports.py avoids.
    copies = []
    for top in ("harness", "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            if path == ROOT / "harness" / "stack" / "ports.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                        and "free_port" in node.name and not node.name.startswith("test_")):
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not copies, f"use harness.stack.ports.free_port instead of: {copies}"


def _binds_port_zero(call: ast.Call) -> bool:
    addr = call.args[0] if call.args else None
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "bind"
            and isinstance(addr, ast.Tuple) and len(addr.elts) == 2
            and isinstance(addr.elts[1], ast.Constant) and addr.elts[1].value == 0)


def test_no_function_binds_port_zero_only_to_read_the_number():
    # Binding port 0 is race-free only while the socket stays open and listens;
    # a function that binds 0 and never listens hands the number to someone else.
    copies = []
    for top in ("harness", "tests", "bench"):
        for path in (ROOT / top).rglob("*.py"):
            if path == ROOT / "harness" / "stack" / "ports.py":
                continue
            for fn in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
                listens = any(isinstance(c.func, ast.Attribute) and c.func.attr == "listen"
                              for c in calls)
                if any(_binds_port_zero(c) for c in calls) and not listens:
                    copies.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}")
    assert not copies, f"use harness.stack.ports.free_port instead of: {copies}"

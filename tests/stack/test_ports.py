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


def test_no_other_module_under_harness_defines_a_port_picker():
    copies = []
    for path in (ROOT / "harness").rglob("*.py"):
        if path == ROOT / "harness" / "stack" / "ports.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and "free_port" in node.name:
                copies.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not copies, f"use harness.stack.ports.free_port instead of: {copies}"

"""ControllableStack: which launchers can kill and restart one service (fault scenarios)."""

from __future__ import annotations

from pathlib import Path

from harness.settings import Settings
from harness.stack.base import ControllableStack, Stack
from harness.stack.compose import ComposeSettings, ComposeStack
from harness.stack.native import NativeStack

ROOT = Path(__file__).resolve().parents[2]


def test_the_native_stack_can_kill_and_restart_a_service(tmp_path: Path):
    stack = NativeStack(Settings(run_dir=tmp_path, gateway=False))   # not started
    assert isinstance(stack, Stack)
    assert isinstance(stack, ControllableStack)


def test_the_compose_stack_can_kill_and_restart_a_service_too(tmp_path: Path):
    stack = ComposeStack(ComposeSettings(root=ROOT, run_dir=tmp_path))   # not started
    assert isinstance(stack, Stack)
    assert isinstance(stack, ControllableStack)

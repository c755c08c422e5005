"""SVG snapshots of the chat (pytest-textual-snapshot) on fixed data: main screen, source panel,
source detail and the light theme. Regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the report before accepting."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from shoeagent.agent.memory import ChatStore
from shoeagent.tui.app import LIGHT_THEME
from tui_fakes import fixed_data_app

SIZE = (120, 40)


@pytest.fixture
def fixed_app(tmp_path: Path):
    return fixed_data_app(ChatStore(path=tmp_path / "chat.sqlite"))


async def _steady(pilot) -> None:
    """Wait for the model/store workers and freeze the blinking cursor."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_main_screen(snap_compare, fixed_app):
    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=_steady)


def test_source_panel_focused(snap_compare, fixed_app):
    async def focus_sources(pilot) -> None:
        await _steady(pilot)
        await pilot.press("ctrl+o", "down")
        await pilot.pause()

    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=focus_sources)


def test_source_detail_modal(snap_compare, fixed_app):
    async def open_source(pilot) -> None:
        await _steady(pilot)
        await pilot.press("ctrl+o", "enter")
        await pilot.pause()

    assert snap_compare(fixed_app, terminal_size=SIZE, run_before=open_source)


def test_light_theme_with_tools_expanded(snap_compare, tmp_path):
    app = fixed_data_app(ChatStore(path=tmp_path / "chat.sqlite"), theme=LIGHT_THEME)

    async def expand_tools(pilot) -> None:
        await _steady(pilot)
        await pilot.click(".answer-tools CollapsibleTitle")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=expand_tools)

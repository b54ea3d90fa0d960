"""Showing a ``Board`` in a terminal: rich Live panels on a TTY, plain prefixed lines otherwise.

Both views take the ``Update`` records ``Board.apply`` returns. The live view redraws the requests
still in flight and prints each finished one above the live area, so the scrollback keeps a clean
transcript; the plain view writes whole lines only (one request's text never interleaves mid-line
with another's), which is what a log file or a pipe wants.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from service.cli.reassemble import (
    Board,
    Finished,
    Request,
    Restarted,
    Status,
    TextAppended,
    ToolCalled,
    Update,
    summary,
)

PLAIN_WRAP = 160  # plain view: break a long unterminated line at a space after this many characters
LIVE_TAIL_CHARS = 900  # live view: how much of a streaming answer a panel shows (the tail)
LIVE_MAX_PANELS = 6


class View(Protocol):
    def start(self) -> None: ...
    def show(self, updates: list[Update]) -> None: ...
    def note(self, text: str, style: str = "") -> None: ...
    def stop(self) -> None: ...


def tool_line(name: str, value: Any) -> str:
    return f"tool_use {name} {json.dumps(value, ensure_ascii=False)}"


class PlainView:
    """``[custom_id] text`` lines; text is buffered per request until a newline or the block ends."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], str] = {}

    def start(self) -> None:
        pass

    def note(self, text: str, style: str = "") -> None:
        click.echo(text)

    def show(self, updates: list[Update]) -> None:
        for update in updates:
            match update:
                case TextAppended(custom_id, kind, text):
                    self._append(custom_id, kind, text)
                case ToolCalled(custom_id, name, value):
                    self._flush(custom_id)
                    click.echo(f"[{custom_id}] {tool_line(name, value)}")
                case Restarted(custom_id, generation, attempt):
                    self._flush(custom_id)
                    click.echo(
                        f"[{custom_id}] restarted as generation {generation} attempt {attempt}; "
                        "discard the partial output above"
                    )
                case Finished(request):
                    self._flush(request.custom_id)
                    click.echo(f"[{request.custom_id}] {summary(request)}")

    def _append(self, custom_id: str, kind: str, text: str) -> None:
        key = (custom_id, kind)
        for other in [k for k in self._pending if k[0] == custom_id and k != key]:
            self._emit(custom_id, other[1], self._pending.pop(other))  # thinking ends where text starts
        buffered = self._pending.get(key, "") + text
        *lines, rest = buffered.split("\n")
        while len(rest) > PLAIN_WRAP and " " in rest[PLAIN_WRAP // 2 :]:
            cut = rest.rfind(" ", PLAIN_WRAP // 2, PLAIN_WRAP + 1)
            cut = cut if cut > 0 else rest.find(" ", PLAIN_WRAP // 2)
            lines.append(rest[:cut])
            rest = rest[cut + 1 :]
        for line in lines:
            self._emit(custom_id, kind, line)
        self._pending[key] = rest

    def _flush(self, custom_id: str) -> None:
        for key in [k for k in self._pending if k[0] == custom_id]:
            rest = self._pending.pop(key)
            if rest:
                self._emit(custom_id, key[1], rest)

    def _emit(self, custom_id: str, kind: str, line: str) -> None:
        if not line.strip():
            return  # paragraph breaks: a blank prefixed line only adds noise when requests interleave
        marker = "(thinking) " if kind == "thinking" else ""
        click.echo(f"[{custom_id}] {marker}{line}")

    def stop(self) -> None:
        for custom_id in {k[0] for k in self._pending}:
            self._flush(custom_id)


class LiveView:
    """In-flight requests as live panels; finished ones printed once, in full, above them."""

    def __init__(self, board: Board, console: Console | None = None) -> None:
        self._board = board
        self.console = console or Console()
        self._first_seen: dict[str, float] = {}
        self._live = Live(
            self, console=self.console, refresh_per_second=8, transient=True, redirect_stderr=False
        )

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def note(self, text: str, style: str = "") -> None:
        self.console.print(text, style=style or None, highlight=False)

    def show(self, updates: list[Update]) -> None:
        for update in updates:
            if isinstance(update, Finished):
                self.console.print(self._panel(update.request, final=True))

    def __rich__(self) -> RenderableType:
        now = time.monotonic()
        active = [r for r in self._board.requests.values() if not r.final]
        for request in active:
            self._first_seen.setdefault(request.custom_id, now)
        panels: list[RenderableType] = [self._panel(r) for r in active[:LIVE_MAX_PANELS]]
        if len(active) > LIVE_MAX_PANELS:
            panels.append(Text(f"... and {len(active) - LIVE_MAX_PANELS} more in flight", style="dim"))
        return Group(*panels)

    def _panel(self, request: Request, final: bool = False) -> Panel:
        body = Text()
        thinking = request.thinking
        if thinking:
            shown = thinking if final else thinking[-300:]
            body.append(("..." if len(shown) < len(thinking) else "") + shown.strip() + "\n\n", "dim italic")
        text = request.text
        if text:
            shown = text if final else text[-LIVE_TAIL_CHARS:]
            body.append(("..." if len(shown) < len(text) else "") + shown)
        for block in request.tool_calls():
            value = block.input if block.done else block.text
            shown_value = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            body.append(f"\n-> tool_use {block.name} {shown_value}", "cyan")
        if request.status is Status.ERRORED:
            body.append(f"{request.error_type}: {request.error_message}", "red")
        if not body.plain.strip():
            waited = time.monotonic() - self._first_seen.get(request.custom_id, time.monotonic())
            what = "waiting for the batch result" if request.mode == "batch" else "waiting for events"
            body.append(f"{what} ({waited:.0f} s)", "dim")
        colour = {Status.COMPLETED: "green", Status.ERRORED: "red"}.get(request.status, "yellow")
        title = f"[bold]{request.custom_id}[/] [dim]{request.mode}[/]"
        subtitle = summary(request) if final else request.status.value
        return Panel(body, title=title, title_align="left", subtitle=subtitle, border_style=colour)


def make_view(board: Board, live: bool | None = None) -> View:
    """Live panels when stdout is a terminal (or ``live=True``), plain lines otherwise."""
    console = Console()
    use_live = console.is_terminal if live is None else live
    return LiveView(board, console) if use_live else PlainView()

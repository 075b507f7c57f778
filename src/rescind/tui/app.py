"""The Textual app: wiring only. Screens, modals and widgets live in their own modules."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from rescind.tui.palette import RescindCommands
from rescind.tui.screens.home import HomeScreen
from rescind.tui.workers import failure_text

if TYPE_CHECKING:
    from rescind.engine.session import SessionConfig
    from rescind.tui.messages import WorkFailed


class RescindApp(App[int]):
    # Absolute, so subclasses elsewhere (benchmarks, embedders) find it too.
    CSS_PATH = Path(__file__).with_name("rescind.tcss")
    TITLE = "rescind"
    COMMANDS = App.COMMANDS | {RescindCommands}
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", id="app.help",
                tooltip="Every key of this screen"),
        Binding("q", "quit", "Quit", id="app.quit",
                tooltip="Asks first when an incident is open or an action is in flight"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_now"),
    ]

    def __init__(self, *, incidents_root: Path = Path("incidents"),
                 start: SessionConfig | None = None, resume: Path | None = None,
                 key: Path | None = None, settings: dict[str, Any] | None = None) -> None:
        """``start`` (a SessionConfig) opens that incident; ``resume`` an interrupted one."""
        super().__init__()
        self.incidents_root = incidents_root
        self._start = start
        self._resume = resume
        self._key = key
        # `rescind run`'s settings serve every incident started from its home screen too.
        self._settings = settings if settings is not None or start is None else start.settings

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's "Screenshot" fails here and "Theme" can repaint LIVE's red banner.
        for command in super().get_system_commands(screen):
            if command.title not in _DROPPED_COMMANDS:
                yield command

    def get_default_screen(self) -> Screen[Any]:
        # Home is the bottom of the stack itself: pushing it over Textual's blank default
        # screen composed, laid out and painted that one first (first paint, issue 16).
        return HomeScreen(self.incidents_root, settings=self._settings)

    def on_mount(self) -> None:
        self.call_after_refresh(self._apply_keymap)
        home = self.screen_stack[0]
        assert isinstance(home, HomeScreen)
        if self._start is not None:
            home.open_incident(self._start)
        elif self._resume is not None:
            home.resume(self._resume, key=self._key, settings=self._settings)

    def on_work_failed(self, message: WorkFailed) -> None:
        """The one handler for a screen's failed background job: its placeholder says
        what failed, and a toast says it once more wherever the responder is."""
        text = failure_text(message.error)
        message.screen.work_failed(message.group, text)
        self.notify(text, title="Could not finish", severity="error", timeout=10,
                    markup=False)

    def _apply_keymap(self) -> None:
        from rescind.tui.keymap import load_keymap

        keymap, problem = load_keymap()
        if problem:
            self.notify(problem, severity="warning", timeout=10, markup=False)
        if keymap:
            self.set_keymap(keymap)

    def action_help(self) -> None:
        from rescind.tui.modals.help import HelpModal

        if not isinstance(self.screen, HelpModal):
            self.push_screen(HelpModal(self.screen))

    async def action_quit(self) -> None:
        from rescind.tui.modals.confirm import ConfirmModal

        question = None
        for screen in self.screen_stack:
            ask = getattr(screen, "quit_question", None)
            question = ask() if ask is not None else None
            if question:
                break
        if question is None:
            self.exit(0)
            return
        text, dangerous = question
        self.push_screen(ConfirmModal("Quit rescind?", text, yes="Quit", no="Stay",
                                      danger=dangerous),
                         lambda yes: self.exit(0) if yes else None)


_DROPPED_COMMANDS = frozenset({"Screenshot", "Theme"})

"""The record: journal entries as they are written, the chain's verify status, and at
close the report, manifest and signature with the exact stock-tool commands."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import DataTable, Footer, Static

from rescind.engine.responder import EngineEvent, EventKind
from rescind.record.journal import Entry
from rescind.textsafe import visible
from rescind.tui.palette import PaletteItem
from rescind.tui.widgets.plain import Plain
from rescind.tui.widgets.tables import KeyedDataTable
from rescind.tui.workers import ReportsFailures

if TYPE_CHECKING:
    from rescind.engine.session import CloseInfo, IncidentSession
    from rescind.record.verify import VerifyReport

# The data keys worth a glance in the list; the full entry is in journal.jsonl.
_SUMMARY_KEYS = ("phase", "title", "answer", "choice", "reason", "approved", "policy", "typed",
                 "note", "ok", "detail", "error", "format", "path", "uid", "relevant", "status")


def entry_summary(entry: Entry) -> str:
    data = entry.data
    parts = [str(data["step"])] if data.get("step") else []
    for key in _SUMMARY_KEYS:
        if key == "title" and data.get(key) == data.get("step"):
            continue
        if key in data and data[key] not in (None, "", [], {}):
            parts.append(f"{key}={data[key]}")
    if entry.kind == "action.plan":
        parts.append(f"plan {str(data.get('plan_hash', ''))[:12]}")
    return "  ".join(parts)


class RecordScreen(ReportsFailures, Screen[None]):
    HELP_TITLE = "Record"
    # Read when the screen first opens, not before home's first frame (rescind.tcss).
    CSS_PATH = Path(__file__).with_name("record.tcss")
    HELP = ("Each journal line is chained to the one before by its SHA-256, and checkpoints "
            "sign the journal so far. At close, SHA256SUMS lists every file and is signed; "
            "anyone can check it with ssh-keygen and sha256sum, without rescind.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "Verify", id="record.verify",
                tooltip="Check the chain, signatures and seal now"),
        Binding("c", "copy", "Copy commands", id="record.copy",
                tooltip="Copy the verification commands (OSC 52)"),
        Binding("a", "copy_anchor", "Copy anchor", id="record.copy_anchor",
                tooltip="Copy the latest ANCHOR line for the ticket (OSC 52)"),
        Binding("s", "save", "Save commands", id="record.save", show=False,
                tooltip="Write the verification commands to a file beside the incident"),
        Binding("t", "timeline", "Timeline", id="record.timeline",
                tooltip="The incident's merged timeline"),
        Binding("escape", "back", "Back", id="record.back"),
    ]

    def __init__(self, incident_dir: Path, *, session: IncidentSession | None = None,
                 updates: Signal[list[EngineEvent]] | None = None,
                 close_info: CloseInfo | None = None, verify: bool = False) -> None:
        super().__init__()
        self._verify_now = verify
        self.incident_dir = incident_dir
        self.session = session
        self._updates = updates
        self.close_info = close_info
        self._shown = 0  # journal entries already in the table
        self.report: VerifyReport | None = None
        self.anchor_line: str | None = None
        self._verified_at: str | None = None

    def compose(self) -> ComposeResult:
        yield Plain(Text.assemble(("Record ", "bold"), self.incident_dir.name),
                     id="record-title")
        yield Plain("not verified yet: press v", id="record-verify")
        yield Plain("", id="record-anchor")
        with Vertical(id="record-close"):
            yield Plain("", id="record-paths")
            with VerticalScroll(id="record-score-box"):  # a long score keeps the journal
                yield Plain("", id="record-score")
        table = KeyedDataTable(id="record-journal", cursor_type="row", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("seq", "time (UTC)", "kind", "sha256", "what")
        self._append_entries()
        table.focus()
        if self._updates is not None:
            self._updates.subscribe(self, self._on_engine_events)
        self._show_close()
        if self._verify_now or self.close_info is not None or self.session is None:
            self.action_verify()

    def _entries(self) -> list[Entry]:
        if self.session is not None:
            entries: list[Entry] = self.session.journal_entries()
            return entries
        import contextlib

        from rescind.record.journal import JournalCorrupt, read_entries

        read: list[Entry] = []
        # A torn last line (a crash mid-write) and a changed one (tampering) end the
        # table where they are; the verification panel says what is wrong.
        with contextlib.suppress(JournalCorrupt):
            read.extend(read_entries(self.incident_dir / "journal.jsonl", allow_torn=True))
        return read

    def _append_entries(self) -> None:
        table = self.query_one(DataTable)
        at_end = table.cursor_row >= table.row_count - 1
        entries = self._entries()
        self._show_anchor(entries)
        for entry in entries[self._shown:]:
            # Text, not str: a DataTable reads str cells as markup, and answers,
            # notes and errors are free text.
            table.add_row(*(Text(cell) for cell in (
                str(entry.seq), entry.time[:19].replace("T", " "), entry.kind,
                entry.sha256[:12], entry_summary(entry))))
            self._shown += 1
        if at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1)

    def _show_anchor(self, entries: list[Entry]) -> None:
        """The latest anchor: paste it into the ticket, so a later rewrite shows. A folder
        opened from disk offers one only once verification found nothing changed: an
        anchor of a forged line would vouch for the forgery."""
        from rescind.record.checkpoint import anchors_in

        if self.session is None and (self.report is None or self.report.status == "tampered"):
            return
        anchors = anchors_in(self.incident_dir, entries, self.incident_dir.name)
        if anchors:
            self.anchor_line = anchors[-1].line
            self.query_one("#record-anchor", Static).update(
                Text.assemble(("latest anchor (a copies it)  ", "dim"), (self.anchor_line, "bold")))

    def _on_engine_events(self, events: list[EngineEvent]) -> None:
        if any(e.kind is EventKind.JOURNAL for e in events):
            self._append_entries()
        if any(e.kind is EventKind.CLOSED for e in events) and self.session is not None:
            self._show_close()

    # ----------------------------------------------------------------- close

    def _sealed_paths(self) -> tuple[dict[str, Path], str] | None:
        """(label → path, verify command) once the incident is sealed."""
        info = self.close_info
        if info is not None:
            return ({"report": info.report, "manifest": info.sums,
                     "signature": info.signature, "allowed signers": info.allowed_signers},
                    info.verify_command)
        sums_sig = self.incident_dir / "SHA256SUMS.sig"
        if self.session is not None or not sums_sig.exists():
            return None
        from rescind.record.bundle import verify_command

        signer = (self.report.signer or "").split(" ")[0] if self.report else ""
        if not signer:
            return None
        return ({"report": self.incident_dir / "report.md",
                 "manifest": self.incident_dir / "SHA256SUMS", "signature": sums_sig,
                 "allowed signers": self.incident_dir / "allowed_signers"},
                verify_command(signer))

    def commands(self) -> str | None:
        sealed = self._sealed_paths()
        if sealed is None:
            return None
        # A folder name is the responder's (--out) and may hold spaces, `;`, `$(…)` or
        # escape sequences: quoted for the shell, its control characters shown, never sent.
        folder = shlex.quote(visible(self.incident_dir.resolve()))
        # The last check is optional: an auditor's machine may not have rescind, and
        # the saved script (set -e) must not fail there for that.
        return (f"cd {folder}\n{sealed[1]}\nsha256sum -c SHA256SUMS\n"
                f"# optional, where rescind is installed: rescind verify {folder}\n")

    def _show_close(self) -> None:
        sealed = self._sealed_paths()
        panel = self.query_one("#record-close")
        panel.display = sealed is not None
        if sealed is None:
            return
        from rescind.record.after_action import AFTER_ACTION

        paths, command = sealed
        if (after_action := self.incident_dir / AFTER_ACTION).is_file():
            paths = paths | {"after-action": after_action}
        text = Text("Sealed. Files:\n", style="bold")
        for label, path in paths.items():
            text.append(f"  {label:>15}: ", style="dim")
            text.append(f"{visible(path)}\n")
        text.append(f"Verify with stock tools, from {visible(self.incident_dir)}:\n",
                    style="bold")
        text.append(f"  {command}\n", style="bold cyan")
        text.append("  sha256sum -c SHA256SUMS\n", style="bold cyan")
        text.append("c copies these commands · s saves them to a file", style="dim")
        self.query_one("#record-paths", Static).update(text)
        self._show_score()
        # The panel shrinks the journal: keep its selected (newest) line in view.
        self.call_after_refresh(self._cursor_into_view)

    def _show_score(self) -> None:
        """An exercise's score table, under the file that carries it (after-action.md)."""
        from rescind.record.after_action import AFTER_ACTION, table
        from rescind.record.score import load_score

        report = self.incident_dir / AFTER_ACTION
        widget = self.query_one("#record-score", Static)
        box = self.query_one("#record-score-box")
        box.display = report.is_file()
        if not box.display:
            return
        text = Text("Exercise score", style="bold")
        text.append(f" (the debrief's questions are in {visible(report)}):\n", style="dim")
        rows = table(load_score(self.incident_dir))
        width = max(len(k) for k, _ in rows)
        for what, result in rows:
            text.append(f"  {what:<{width}}  ", style="dim")
            text.append(f"{visible(result)}\n")
        widget.update(text)

    def _cursor_into_view(self) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.cursor_row)

    # --------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("copy", "save"):
            return self._sealed_paths() is not None
        if action == "copy_anchor":
            return self.anchor_line is not None
        return True

    @work(thread=True, exclusive=True, group="record-verify", exit_on_error=False)
    def action_verify(self) -> None:
        self.app.call_from_thread(self._verify_status, Text("verifying…", style="dim"))
        if self.session is not None:
            report = self.session.verify()
        else:
            from rescind.record.verify import verify_incident

            report = verify_incident(self.incident_dir)
        self.app.call_from_thread(self._verified, report)

    def work_failed(self, group: str, text: str) -> None:
        if group == "record-verify":
            self._verify_status(Text(f"✗ could not verify: {text} (v tries again)",
                                     style="bold red"))

    def _verified(self, report: VerifyReport) -> None:
        from rescind.tui import clock

        if self.report is not None:  # asked again: say the result, not only in the panel
            verdict = "intact" if report.exit_code == 0 else "PROBLEMS, see the panel"
            self.notify(f"Verified at {clock.now():%H:%M:%S} UTC: {verdict}.",
                        severity="information" if report.exit_code == 0 else "error",
                        markup=False)
        self.report = report
        if self.session is None:
            self._show_anchor(self._entries())
        ok = report.exit_code == 0
        lines = report.summary()
        text = Text("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
        text.append(lines[0], style="bold green" if ok else "bold red")
        chain = (f"{report.lines} lines" if report.broken_at is None
                 else f"chain breaks at seq {report.broken_at}, {report.lines} lines checked")
        text.append(f" · {chain} · {report.checkpoints_verified} checkpoints "
                    f"verified · {'sealed' if report.sealed else 'not sealed yet'}")
        for problem in report.problems:
            text.append(f"\n  problem: {problem}", style="red")
        if not ok:  # what could not be checked, beside what was found
            for note in report.notes:
                text.append(f"\n  note: {note}")
        self._verify_status(text)
        self._show_close()
        self.refresh_bindings()

    def _verify_status(self, text: Text) -> None:
        self.query_one("#record-verify", Static).update(text)

    def action_copy(self) -> None:
        commands = self.commands()
        if commands:
            self.app.copy_to_clipboard(commands)
            self.notify("Copied over OSC 52. If your terminal ignores that, press s to save "
                        "them to a file.", title="Commands copied")

    def action_save(self) -> None:
        commands = self.commands()
        if not commands:
            return
        # Beside the folder, not in it: a file added inside would fail `sha256sum -c`'s
        # "no file was added" check.
        path = self.incident_dir.parent / f"{self.incident_dir.name}.verify.sh"
        path.write_text("#!/bin/sh\nset -e\n" + commands)
        self.notify(f"Saved to {path}", title="Commands saved", markup=False)

    def action_copy_anchor(self) -> None:
        if self.anchor_line:
            self.app.copy_to_clipboard(self.anchor_line)
            self.notify("Anchor line copied (OSC 52); paste it into the ticket.",
                        title="Copied")

    def action_timeline(self) -> None:
        from rescind.tui.screens.timeline import TimelineScreen

        self.app.push_screen(TimelineScreen(self.incident_dir, session=self.session,
                                            updates=self._updates))

    def action_back(self) -> None:
        self.app.pop_screen()

    def palette_items(self) -> list[PaletteItem]:
        items = [PaletteItem("Verify record", "Check the chain, signatures and seal",
                             self.action_verify),
                 PaletteItem("Timeline", "The incident's merged timeline", self.action_timeline)]
        if self._sealed_paths() is not None:
            items += [PaletteItem("Copy verification commands", "OSC 52 clipboard",
                                  self.action_copy),
                      PaletteItem("Save verification commands", "A file beside the incident",
                                  self.action_save)]
        return items

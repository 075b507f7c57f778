"""The registry of timeline sources: how each cloud's audit log becomes timeline events.

The ``timeline.pull`` action and ``rescind timeline pull|convert`` both use it: a
step's ``with: {aws: {...}}`` and ``rescind timeline pull --aws-user NAME`` pick
the source registered as ``aws``. A source pulls through its provider (``pull``),
reads files the responder already has (``convert``) and normalises one record into
an Event (``normalise``), so a cloud adds one source module and touches nothing else.
"""

from __future__ import annotations

import argparse
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from rescind.errors import UsageError
from rescind.plugins import load_plugins
from rescind.runbook.messages import clip
from rescind.textsafe import visible
from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult, Part
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits
from rescind.timeline.pull import PullProgress, PullResult


class TimelineSource(ABC):
    """One cloud's audit log. Subclasses set the ClassVars and register."""

    name: ClassVar[str]  # the block in timeline.pull's with: (``aws``)
    provider: ClassVar[str]  # the registered provider it pulls through
    lookup_model: ClassVar[type[BaseModel]]  # whose history: the block's schema
    description: ClassVar[str]
    cloud_name: ClassVar[str] = ""  # in messages: "AWS", "Google Cloud" (default: name)
    # What ``regions`` are for this source, in messages: AWS regions, Google Cloud
    # projects, Vault audit logs...
    place: ClassVar[str] = "region"
    # Every API permission pull needs, for docs and the conformance tests.
    permissions: ClassVar[tuple[str, ...]] = ()
    # Whether ``stream_parts`` reads parts of a JSONL file (``convert.parts``): each
    # line's record stands alone, so a big file is read by several workers.
    reads_parts: ClassVar[bool] = False

    @abstractmethod
    def describe(self, lookup: Any) -> str:
        """The lookup in words: ``access key AKIA...``."""

    @abstractmethod
    def regions(self, provider: Any, requested: list[str],
                table: dict[str, Any]) -> list[str]:
        """Where to pull: ``requested`` (``["all"]``: everywhere), else the settings'."""

    @property
    def cloud(self) -> str:
        return self.cloud_name or self.name

    def place_name(self, provider: Any, lookup: Any, region: str) -> str:
        """``region`` (one of ``regions``'s) as messages name it (default: as it is)."""
        return region

    def default_places_note(self, places: list[str], requested: list[str],
                            table: dict[str, Any]) -> str | None:
        """What to say when ``regions`` fell back to a default that leaves places out
        (None: nothing, the default is everything there is)."""
        return None

    @abstractmethod
    async def resolve(self, provider: Any, lookup: Any, account: str | None) -> dict[str, Any]:
        """Read-only preparation at plan time; returns the JSON state ``pull`` gets."""

    @abstractmethod
    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        """Every event of ``state``'s lookup in the window, raw pages in evidence_dir."""

    @abstractmethod
    def normalise(self, record: dict[str, Any]) -> Event:
        """One audit-log record as an Event (raises ValueError when it is not one)."""

    @abstractmethod
    def convert(self, paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
        """Every record in files the responder has (exports, S3 deliveries...), reading
        compressed files within ``limits`` (timeline.limits.read_text does it)."""

    @abstractmethod
    def add_arguments(self, group: Any) -> None:
        """``rescind timeline pull`` options naming whose history (in a shared group)."""

    @abstractmethod
    def lookup_from_args(self, args: argparse.Namespace) -> BaseModel | None:
        """The lookup those options gave, or None when none of this source's were used."""

    async def estimate(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                       since: datetime, until: datetime) -> str | None:
        """What running ``pull`` will cost, in words, when a query engine bills for it
        (shown in the plan before anything runs); None when it costs nothing extra."""
        return None

    def add_pull_arguments(self, parser: Any) -> None:  # noqa: B027  (optional)
        """``rescind timeline pull`` options of this source's own besides whose history."""

    def settings_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        """Provider settings this source's own options set (e.g. an endpoint)."""
        return {}

    def add_convert_arguments(self, group: Any) -> None:  # noqa: B027  (optional: most add none)
        """``rescind timeline convert`` options of this source's own (e.g. a filter)."""

    def convert_from_args(self, paths: list[Path], limits: Limits,
                          args: argparse.Namespace) -> ConvertResult:
        """``convert`` as ``rescind timeline convert`` runs it, given those options."""
        return self.convert(paths, limits)

    def stream_from_args(self, paths: list[Path], limits: Limits, args: argparse.Namespace,
                         counts: ConvertResult) -> Iterator[tuple[str, Event, bool]]:
        """(file name, event, clean) as ``convert_from_args`` finds them, counting the
        files, records and unreadable ones in ``counts``; ``clean``: the event's record
        was checked and holds nothing to redact (``redaction.is_clean_json`` of its text),
        so its exports need no second check. A source that reads files as a stream
        overrides it; this one converts everything first, and checks nothing. A file's
        events depend on that file alone (an operation's records fold within their
        file): ``timeline.workers`` reads files in parallel."""
        result = self.convert_from_args(paths, limits, args)
        counts.files, counts.records = result.files, result.records
        counts.malformed, counts.placed_by = result.malformed, result.placed_by
        counts.synthetic_ids = result.synthetic_ids
        for name, events in result.by_file.items():
            for event in events:
                yield name, event, False

    def stream_parts(self, parts: list[Path | Part], limits: Limits,
                     counts: ConvertResult) -> Iterator[tuple[str, Event, bool]]:
        """``stream_from_args`` of files and parts of files, when ``reads_parts``."""
        raise NotImplementedError(f"{self.name} reads whole files only")


_SOURCES: dict[str, TimelineSource] = {}
S = TypeVar("S", bound=type[TimelineSource])


def register(cls: S) -> S:
    """Class decorator: make the source available under ``cls.name``."""
    existing = _SOURCES.get(cls.name)
    if existing is not None and type(existing) is not cls:
        raise ValueError(f"timeline source {cls.name!r} is registered twice")
    _SOURCES[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    _SOURCES.pop(name, None)


def get(name: str) -> TimelineSource | None:
    load_plugins()
    return _SOURCES.get(name)


def names() -> list[str]:
    load_plugins()
    return sorted(_SOURCES)


def require(name: str) -> TimelineSource:
    source = get(name)
    if source is None:
        raise UsageError(f"no timeline source {name!r}",
                         fix=f"use one of: {', '.join(names()) or '(none installed)'}")
    return source


L = TypeVar("L", bound=BaseModel)
# A secret access key (or a token) pasted for an id is not repeated back.
_SECRET_SHAPED = re.compile(r"[A-Za-z0-9/+=]{40,}")


def lookup_of(model: type[L], given: dict[str, Any], options: dict[str, tuple[str, str]],
              *, fix: str) -> L:
    """``model`` from the options given (field: value); a value it refuses ends in one
    line naming the option and what it should be. ``options``: field: (option, what)."""
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        if field not in options:
            raise UsageError(str(error["msg"]).removeprefix("Value error, "),
                             fix=fix) from None
        option, what = options[field]
        value = str(given[field])
        shown = (f"(a value of {len(value)} characters)" if _SECRET_SHAPED.fullmatch(value)
                 else f"'{visible(clip(value))}'")
        raise UsageError(f"{option} {shown} is not {what}", fix=fix) from None


def via_option(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """``rescind timeline pull --via`` for a lookup ``model`` with a ``via`` Literal: {}
    when not given, refused naming the engines the model knows when not one of them."""
    via = getattr(args, "via", None)
    if not via:
        return {}
    known: tuple[str, ...] = getattr(model.model_fields["via"].annotation, "__args__", ())
    if via not in known:
        raise UsageError(f"--via {via} is not an engine of this source",
                         fix=f"use --via {' or --via '.join(known)}")
    return {"via": via}

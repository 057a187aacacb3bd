"""The project's one Markdown renderer: no raw HTML, safe links only, sanitised output.

Sections are rendered once, when a fiche is saved or imported, and the HTML is stored next
to its source; pages only ever output that stored HTML.

markdown-it-py is pure Python and some crafted texts take seconds to render (see the
`markdown-dos` attack cases). A thread cannot be stopped, so web requests render inside
`time_limit(seconds)`: the texts then go to a small pool of worker processes (started with
`forkserver`, never a plain fork of the threaded server), and a worker that overruns is
killed and replaced once it has used `seconds` of CPU time (a worker merely waiting for a
core on a busy machine is given up to five times as long in wall time). Outside such a block
(the CLI import) rendering stays in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

from resource_centre.errors import DomainError, Kind
from resource_centre.taxonomy import MAX_SECTION_BYTES, SECTION_KEYS

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code",
        "pre", "blockquote", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


class SectionTooLarge(DomainError, ValueError):
    """A Markdown text over the size limit (rendering crafted input is slow)."""

    default_kind = Kind.TOO_LARGE


class RenderTooSlow(DomainError, ValueError):
    """Rendering `key` did not finish within the time limit; the message is French."""

    default_kind = Kind.TOO_SLOW

    def __init__(self, key: str, seconds: float) -> None:
        self.key = key
        super().__init__(
            f"la mise en forme de ce texte dépasse {seconds:g} s : il contient sans doute une "
            "longue suite de crochets, d'astérisques ou de puces ; simplifiez-le ou "
            "raccourcissez-le"
        )


class RenderBusy(RenderTooSlow):
    """Every rendering worker stayed busy for the whole time limit (the server, not the
    text, is at fault: try again)."""

    default_kind = Kind.UNAVAILABLE

    def __init__(self, key: str, seconds: float) -> None:
        DomainError.__init__(
            self,
            "le serveur met en forme d'autres textes en ce moment : réessayez dans quelques "
            "secondes (votre texte est conservé)",
        )
        self.key = key


def is_safe_url(url: str) -> bool:
    """True for relative URLs and http, https and mailto ones; False for anything else."""
    candidate = url.strip()
    if any(ord(c) < 32 for c in candidate):
        return False
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme.lower() in ALLOWED_SCHEMES
    # "//host/path" is a link to another site with the page's scheme: not relative.
    return not candidate.startswith(("//", "\\\\", "/\\", "\\/"))


class _SafeLinksMarkdown(MarkdownIt):
    """markdown-it with our link allow-list in place of its own check."""

    def validateLink(self, url: str) -> bool:
        return is_safe_url(url)


def _make_renderer() -> MarkdownIt:
    md = _SafeLinksMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    return md


_MD = _make_renderer()


def _check_size(text: str) -> None:
    if len(text.encode("utf-8")) > MAX_SECTION_BYTES:
        raise SectionTooLarge(f"texte trop long (plus de {MAX_SECTION_BYTES // 1000} Ko)")


def render_markdown(text: str) -> str:
    """Render Markdown to sanitised HTML; raise SectionTooLarge over the size limit.

    Inside `time_limit(s)`, raise RenderTooSlow when rendering takes longer than `s`.
    """
    _check_size(text)
    if _TIME_LIMIT.get() is not None:
        return render_sections({"texte": text})["texte"]
    return _render_now(text)


def render_sections(texts: Mapping[str, str]) -> dict[str, str]:
    """Render several Markdown texts (a fiche's sections); same errors as render_markdown.

    Inside `time_limit(s)` the limit is for all of them together, and RenderTooSlow names
    the text that was being rendered when time ran out.
    """
    for text in texts.values():
        _check_size(text)
    limit = _TIME_LIMIT.get()
    if limit is None:
        return {key: _render_now(text) for key, text in texts.items()}
    return _POOL.render(dict(texts), limit)


def _render_now(text: str) -> str:
    if not text.strip():
        return ""
    html = _MD.render(text)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# --- Time-bounded rendering in worker processes ------------------------------------------

_TIME_LIMIT: ContextVar[float | None] = ContextVar("render_time_limit", default=None)
POOL_SIZE = 2  # per server process; a third concurrent render waits for a free worker


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Within this block (and threads it starts with the context), bound rendering time."""
    token = _TIME_LIMIT.set(seconds if seconds and seconds > 0 else None)
    try:
        yield
    finally:
        _TIME_LIMIT.reset(token)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
WALL_FACTOR = 5  # a starved worker still gives up after this many times the limit


def _worker_main(conn: Connection) -> None:
    """A rendering worker: receive {key: text}, send back (key, html) one text at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops it, not Ctrl-C
    os.nice(10)  # the server's event loop and threads come first on a busy machine
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        for key, text in job.items():
            try:
                conn.send((key, _render_now(text), None))
            except Exception as exc:  # reported to the caller, the worker carries on
                conn.send((key, None, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, context: multiprocessing.context.ForkServerContext) -> None:
        parent, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child,), name="rendu-markdown", daemon=True
        )
        self.process.start()
        child.close()
        self.conn = parent

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used (Linux /proc), or None where it cannot be read."""
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, ValueError, IndexError):
            return None

    def _wait(self, limit: float, started_cpu: float | None, started: float) -> bool:
        """Wait for the next answer; False once the worker has used `limit` of CPU time.

        CPU time, not wall time: a worker starved by a busy machine (it runs at a lower
        priority) is not cut off for being slow to get a core; wall time is still capped at
        `WALL_FACTOR` × the limit.
        """
        while True:
            if self.conn.poll(0.05):
                return True
            now_cpu = self.cpu_seconds()
            used = (
                now_cpu - started_cpu
                if now_cpu is not None and started_cpu is not None
                else time.monotonic() - started
            )
            if used >= limit or time.monotonic() - started >= WALL_FACTOR * limit:
                return False

    def render(self, texts: dict[str, str], limit: float) -> dict[str, str]:
        started, started_cpu = time.monotonic(), self.cpu_seconds()
        self.conn.send(texts)
        out: dict[str, str] = {}
        for key in texts:
            if not self._wait(limit, started_cpu, started):
                raise RenderTooSlow(key, limit)
            try:
                got, html, error = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise RuntimeError("the rendering worker died") from exc
            if error is not None:
                raise RuntimeError(f"rendering {got!r} failed in the worker: {error}")
            out[got] = html
        return out

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


class _RenderPool:
    """Up to POOL_SIZE worker processes per server process, started when first needed."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._idle: list[_Worker] = []
        self._slots = threading.BoundedSemaphore(self._size)

    def _context(self) -> multiprocessing.context.ForkServerContext:
        context = multiprocessing.get_context("forkserver")
        # Workers are forked from a small single-threaded server process that has imported
        # this module (and the main module, as multiprocessing always does; it is guarded).
        context.set_forkserver_preload(["__main__", __name__])
        return context

    def render(self, texts: dict[str, str], limit: float) -> dict[str, str]:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's workers are not ours
                self._reset()
            slots = self._slots
        first = next(iter(texts), "texte")
        if not slots.acquire(timeout=limit):
            raise RenderBusy(first, limit)
        try:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is not None and not worker.process.is_alive():
                worker.kill()
                worker = None
            if worker is None:
                worker = _Worker(self._context())  # its start-up is not counted in the limit
            try:
                result = worker.render(texts, limit)
            except BaseException:
                worker.kill()  # overran, failed or interrupted: never reused
                raise
            with self._lock:
                self._idle.append(worker)
            return result
        finally:
            slots.release()

    def shutdown(self) -> None:
        """Stop the idle workers (busy ones stop when their server process exits)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOL = _RenderPool(POOL_SIZE)


def stop_workers() -> None:
    """Stop this process's rendering workers (they are started again when needed)."""
    _POOL.shutdown()


# --- Markdown → plain text (cheap, linear-time regular expressions, no HTML) --------------

_FENCE = re.compile(r"^[ \t]{0,3}(?:`{3,}|~{3,})[^\n]*$", re.M)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*|[ \t]+#+[ \t]*$", re.M)
_SETEXT = re.compile(r"^[ \t]{0,3}(?:=+|-+)[ \t]*$", re.M)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.M)
_LIST = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?", re.M)
_RULE = re.compile(r"^[ \t]{0,3}(?:[-*_][ \t]*){3,}$", re.M)
_IMAGE = re.compile(r"!\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}(?:\s+\"[^\"\n]{0,300}\")?\)")
_LINK = re.compile(
    r"\[([^\[\]\n]{0,300})\](?:\([^()\s]{0,500}(?:\s+\"[^\"\n]{0,300}\")?\)|\[[^\[\]\n]{0,100}\])"
)
_REF_DEF = re.compile(r"^[ \t]{0,3}\[[^\[\]\n]{1,100}\]:[^\n]*$", re.M)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]{1,500})>")
_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,200}>|<!--[^<>]{0,500}-->")
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{2,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$", re.M)
_EMPHASIS = re.compile(r"[*_~`|\\]+")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ENTITIES = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"'}


def plain_text(markdown: str | None) -> str:
    """Turn Markdown into plain text by dropping its syntax (not a renderer: no HTML out)."""
    if not markdown:
        return ""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    for pattern in (_FENCE, _SETEXT, _RULE, _TABLE_RULE, _REF_DEF):
        text = pattern.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _LIST.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    text = _EMPHASIS.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def sections_plain_text(sections: dict[str, str]) -> str:
    """The plain text of a fiche's sections, in the order of the fiche."""
    parts = [plain_text(sections.get(key)) for key in SECTION_KEYS]
    return "\n\n".join(p for p in parts if p)

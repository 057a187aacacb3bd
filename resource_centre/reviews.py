"""The network team's reviews of fiches: the review queue, what a review page shows (diffs
of a proposed revision, comments, history), and the curator's actions on a fiche (comment,
the network's note, the workflow transitions of `writeups.transition`).

Functions take the session of the caller's transaction and the acting user; they check the
permission themselves and raise `DomainError`s (`writeups.PermissionDenied`, ...).
"""

from __future__ import annotations

import bisect
import difflib
import html
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import (
    Attachment,
    AuditEvent,
    Comment,
    Regie,
    Term,
    User,
    WriteUp,
    WriteUpRevision,
    utcnow,
)
from resource_centre.rendering import (
    RenderTooSlow,
    SectionTooLarge,
    render_markdown,
    render_sections,
)
from resource_centre.revision_fields import changed_fields, in_brief
from resource_centre.taxonomy import SECTIONS
from resource_centre.writeups import (
    CURATOR_ACTIONS,
    PermissionDenied,
    TransitionError,
    fiche_data_from_json,
    get_by_slug,
    is_curator,
    record,
    transition,
)

STALE_AFTER = timedelta(days=730)  # a published fiche not reviewed since is listed again
COMMENT_ACTIONS = ("request_changes", "comment")  # actions that need a comment
SUBMIT_ACTIONS = ("submit", "submit_revision")


class FicheNotFound(DomainError):
    """No fiche has this slug."""

    default_kind = Kind.NOT_FOUND


class CommentRequired(DomainError):
    """The action needs a comment and none was written (the form again, field "comment")."""

    default_kind = Kind.INVALID


# --- the queue -------------------------------------------------------------------------------


@dataclass
class CurationQueue:
    """What the queue page lists."""

    waiting: list[tuple[datetime, WriteUp]]  # submitted fiches and revisions, oldest first
    changes: list[WriteUp]  # changes requested, oldest update first
    stale: list[WriteUp]  # published and not reviewed for STALE_AFTER
    regies: dict[int, str]  # Régie id → name


def curation_queue(session: Session) -> CurationQueue:
    """The fiches waiting for the network team, with the time each has waited since."""
    to_review = list(
        session.execute(
            select(WriteUp).where(
                or_(col(WriteUp.status) == "submitted", col(WriteUp.pending_status) == "submitted")
            )
        ).scalars()
    )
    submitted_at: dict[int, Any] = {}
    if to_review:
        submitted_at = dict(
            session.execute(
                select(col(AuditEvent.writeup_id), func.max(AuditEvent.at))
                .where(
                    col(AuditEvent.writeup_id).in_([w.id for w in to_review]),
                    col(AuditEvent.action).in_(SUBMIT_ACTIONS),
                )
                .group_by(col(AuditEvent.writeup_id))
            ).all()
        )
    waiting = [(submitted_at.get(w.id) or w.updated_at, w) for w in to_review]
    waiting.sort(key=lambda item: item[0])
    changes = list(
        session.execute(
            select(WriteUp)
            .where(
                or_(
                    col(WriteUp.status) == "changes_requested",
                    col(WriteUp.pending_status) == "changes_requested",
                )
            )
            .order_by(col(WriteUp.updated_at))
        ).scalars()
    )
    limit = (utcnow() - STALE_AFTER).date()
    stale = [
        w
        for w in session.execute(
            select(WriteUp).where(WriteUp.status == "published").order_by(col(WriteUp.published_at))
        ).scalars()
        if ((w.reviewed_at.date() if w.reviewed_at else w.published_at) or limit) < limit
    ]
    regies = {r.id: r.name for r in session.execute(select(Regie)).scalars()}
    return CurationQueue(waiting=waiting, changes=changes, stale=stale, regies=regies)


# --- the review page -------------------------------------------------------------------------


# Line diffs of the review page (difflib.ndiff took 56 s for 200 changed lines, comparing
# every removed line with every added one for its hints). SequenceMatcher's opcodes alone
# cost about (lines) × (matching blocks): nothing for a usual section, but 0.4 s for a
# 2,000-line one edited every other line, 6 s for 10,000 lines. So a larger text is first
# cut at the lines found once on each side (patience anchors; failing those, the lines found
# as often on each side, like the blank lines of a rewritten passage) and each gap goes to
# SequenceMatcher; a budget bounds the work on crafted texts.
SMALL_DIFF_PAIRS = 40_000  # old × new lines up to which SequenceMatcher alone is used
DIFF_WORK_BUDGET = 400_000  # line pairs given to SequenceMatcher at most in one diff
AUTOJUNK_FROM = 200  # SequenceMatcher's autojunk acts from this many lines (difflib)
PAIRED_SIMILARITY = 0.75  # a changed line this similar to its new version is shown beside it

Opcode = tuple[str, int, int, int, int]


def _anchors(
    old: list[str], new: list[str], a0: int, a1: int, b0: int, b1: int, most: int | None = 1
) -> list[tuple[int, int]]:
    """The longest chain of equal lines of old[a0:a1] and new[b0:b1], in the same order on
    both sides, among the lines found as many times on each side (and at most `most` times;
    the k-th occurrence in old paired with the k-th in new): (old index, new index) pairs."""
    count_old, count_new = Counter(old[a0:a1]), Counter(new[b0:b1])
    kept = {
        line
        for line, n in count_old.items()
        if (most is None or n <= most) and count_new.get(line) == n
    }
    where_new: dict[str, list[int]] = {}
    for j in range(b0, b1):
        if new[j] in kept:
            where_new.setdefault(new[j], []).append(j)
    seen: Counter[str] = Counter()
    pairs = []
    for i in range(a0, a1):
        if old[i] in kept:
            pairs.append((i, where_new[old[i]][seen[old[i]]]))
            seen[old[i]] += 1
    # Longest increasing subsequence of the new indices (patience sorting).
    tails: list[int] = []  # tails[k]: the pair ending the best chain of k + 1 pairs so far
    tail_js: list[int] = []
    previous = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tail_js, j)
        previous[n] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(n)
            tail_js.append(j)
        else:
            tails[k], tail_js[k] = n, j
    chain = []
    n = tails[-1] if tails else -1
    while n >= 0:
        chain.append(pairs[n])
        n = previous[n]
    return chain[::-1]


def _matcher_blocks(
    old: list[str], new: list[str], a0: int, a1: int, b0: int, b1: int
) -> Iterator[tuple[int, int, int]]:
    """SequenceMatcher's matching blocks of old[a0:a1] and new[b0:b1]."""
    matcher = difflib.SequenceMatcher(None, old[a0:a1], new[b0:b1])
    return ((a0 + i, b0 + j, n) for i, j, n in matcher.get_matching_blocks() if n)


def _matching_blocks(old: list[str], new: list[str]) -> list[tuple[int, int, int]]:
    """Matching (old index, new index, length) blocks of a long text, in order."""
    blocks: list[tuple[int, int, int]] = []
    budget = DIFF_WORK_BUDGET
    regions = [(0, len(old), 0, len(new))]
    while regions:
        a0, a1, b0, b1 = regions.pop()
        start = a0
        while a0 < a1 and b0 < b1 and old[a0] == new[b0]:
            a0, b0 = a0 + 1, b0 + 1
        if a0 > start:
            blocks.append((start, b0 - (a0 - start), a0 - start))
        end = a1
        while a0 < a1 and b0 < b1 and old[a1 - 1] == new[b1 - 1]:
            a1, b1 = a1 - 1, b1 - 1
        if a1 < end:
            blocks.append((a1, b1, end - a1))
        pairs = (a1 - a0) * (b1 - b0)
        if not pairs:
            continue
        if pairs <= min(SMALL_DIFF_PAIRS, budget) and b1 - b0 < AUTOJUNK_FROM:
            budget -= pairs
            blocks.extend(_matcher_blocks(old, new, a0, a1, b0, b1))
            continue
        budget -= (a1 - a0) + (b1 - b0)
        anchors = []
        if budget > 0:
            anchors = _anchors(old, new, a0, a1, b0, b1) or _anchors(
                old, new, a0, a1, b0, b1, most=None
            )
        for i, j in anchors:
            blocks.append((i, j, 1))
            regions.append((a0, i, b0, j))
            a0, b0 = i + 1, j + 1
        if anchors:
            regions.append((a0, a1, b0, b1))
        elif pairs <= min(SMALL_DIFF_PAIRS, budget):
            budget -= pairs
            blocks.extend(_matcher_blocks(old, new, a0, a1, b0, b1))
        # Otherwise (a crafted text) what is left shows as one changed block.
    blocks.sort()
    merged: list[tuple[int, int, int]] = []
    for i, j, n in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
        else:
            merged.append((i, j, n))
    return merged


def _line_opcodes(old: list[str], new: list[str]) -> list[Opcode]:
    """The opcodes turning the lines `old` into `new` (as SequenceMatcher.get_opcodes).

    A usual section goes to SequenceMatcher as a whole, with the line matching that
    `difflib.ndiff` made (its default `autojunk`, which only acts from 200 lines on).
    """
    if len(old) * len(new) <= SMALL_DIFF_PAIRS:
        return list(difflib.SequenceMatcher(None, old, new).get_opcodes())
    opcodes: list[Opcode] = []
    i = j = 0
    for ai, bj, size in [*_matching_blocks(old, new), (len(old), len(new), 0)]:
        if i < ai or j < bj:
            tag = "replace" if i < ai and j < bj else "delete" if i < ai else "insert"
            opcodes.append((tag, i, ai, j, bj))
        if size:
            opcodes.append(("equal", ai, ai + size, bj, bj + size))
        i, j = ai + size, bj + size
    return opcodes


def _common_start(a: str, b: str) -> int:
    """The length of the common start of `a` and `b` (by halving, comparing in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _edited(old: str, new: str) -> bool:
    """Is the line `new` an edit of `old`: do their common start and end make up 75 % of
    both? (ndiff paired lines this similar; measured here without its quadratic cost.)"""
    prefix = _common_start(old, new)
    suffix = _common_start(old[prefix:][::-1], new[prefix:][::-1])
    return 2 * (prefix + suffix) >= PAIRED_SIMILARITY * (len(old) + len(new))


def _block(old: list[str], new: list[str]) -> list[str]:
    """Removed lines in <del>, added ones in <ins>: the shorter side first (as ndiff)."""
    removed = [f"<del>{html.escape(line)}</del>" for line in old]
    added = [f"<ins>{html.escape(line)}</ins>" for line in new]
    return added + removed if len(new) < len(old) else removed + added


def _replaced(old: list[str], new: list[str]) -> Iterator[str]:
    """The lines of a replaced block; in a block of as many lines on each side, a line and
    its edit come as a pair, the lines around them as blocks."""
    if len(old) != len(new):
        yield from _block(old, new)
        return
    start = 0
    for i, (before, after) in enumerate(zip(old, new, strict=True)):
        if _edited(before, after):
            yield from _block(old[start:i], new[start:i])
            yield from _block([before], [after])
            start = i + 1
    yield from _block(old[start:], new[start:])


def section_diff(old: str, new: str) -> str:
    """An HTML-escaped line diff: removed lines in <del>, added ones in <ins>, unchanged ones
    in <span>, one a line (the template shows them in a <pre>)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    out: list[str] = []
    for tag, i1, i2, j1, j2 in _line_opcodes(old_lines, new_lines):
        if tag == "equal":
            out.extend(f"<span>{html.escape(line)}</span>" for line in old_lines[i1:i2])
        else:
            out.extend(_replaced(old_lines[i1:i2], new_lines[j1:j2]))
    return "\n".join(out)


def _revision(writeup: WriteUp, labels: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    """The proposed revision of a published fiche: its content, diffs (the title, the
    summary, the format, partners, figures and facets, then the sections) and rendering."""
    if not writeup.pending:
        return None
    data = fiche_data_from_json(writeup.pending, slug=writeup.slug)
    diffs = []
    for name, label in (("title", "Titre"), ("summary", "Résumé")):
        if getattr(writeup, name) != getattr(data, name):
            diffs.append((label, section_diff(getattr(writeup, name), getattr(data, name))))
    for heading, old, new in changed_fields(writeup, data, labels):
        diffs.append((heading, section_diff(old, new)))
    for section in SECTIONS:
        old, new = writeup.sections.get(section.key, ""), data.sections.get(section.key, "")
        if old != new:
            diffs.append((section.heading, section_diff(old, new)))
    try:
        html_sections = render_sections(data.sections)
    except (SectionTooLarge, RenderTooSlow):
        html_sections = {}
    return {"data": data, "diffs": diffs, "html": html_sections, "status": writeup.pending_status}


def review_details(session: Session, writeup: WriteUp) -> dict[str, Any]:
    """What the review page shows of `writeup`: its Régie, proposed revision, the "En bref"
    of what would be published, its attachments (those of a revision marked `pending`),
    comments and history (rows of (item, author name, author e-mail)), published versions,
    term labels."""
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    comments = session.execute(
        select(Comment, User.name, User.email)
        .outerjoin(User, col(User.id) == Comment.author_id)
        .where(Comment.writeup_id == writeup.id)
        .order_by(col(Comment.at))
    ).all()
    history = session.execute(
        select(AuditEvent, User.name, User.email)
        .outerjoin(User, col(User.id) == AuditEvent.actor_id)
        .where(AuditEvent.writeup_id == writeup.id)
        .order_by(col(AuditEvent.at).desc())
    ).all()
    revisions = list(
        session.execute(
            select(WriteUpRevision)
            .where(WriteUpRevision.writeup_id == writeup.id)
            .order_by(col(WriteUpRevision.created_at).desc())
        ).scalars()
    )
    labels = {(t.vocabulary, t.slug): t.label for t in session.execute(select(Term)).scalars()}
    revision = _revision(writeup, labels)
    files = session.execute(
        select(Attachment).where(Attachment.writeup_id == writeup.id).order_by(col(Attachment.id))
    ).scalars()
    return {
        "writeup": writeup,
        "regie": regie,
        "revision": revision,
        "in_brief": in_brief(revision["data"] if revision else writeup, labels),
        "attachments": list(files),
        "comments": comments,
        "history": history,
        "revisions": revisions,
        "term_labels": labels,
    }


def review_page(session: Session, slug: str) -> dict[str, Any]:
    """`review_details` of the fiche `slug`; raises FicheNotFound."""
    writeup = get_by_slug(session, slug)
    if writeup is None:
        raise FicheNotFound
    return review_details(session, writeup)


# --- actions ---------------------------------------------------------------------------------


def comment_required_message(action: str) -> str:
    return (
        "Écrivez le commentaire : dites à la Régie ce qu'il faut modifier."
        if action == "request_changes"
        else "Le commentaire est vide."
    )


def add_comment(session: Session, *, user: User, writeup: WriteUp, body: str) -> str:
    """A curator's comment on a fiche (shown to its Régie); return a French confirmation."""
    if not is_curator(user):
        raise PermissionDenied
    body = body.strip()
    if not body:
        raise CommentRequired(comment_required_message("comment"), field="comment")
    assert writeup.id is not None, "a fiche under review is stored"
    session.add(Comment(writeup_id=writeup.id, author_id=user.id, body=body))
    record(session, action="comment", writeup=writeup, actor_id=user.id, comment=body)
    return "Commentaire ajouté."


def set_note(session: Session, *, user: User, writeup: WriteUp, note: str) -> str:
    """Set (or, when empty, remove) the network's note on a fiche (« regard du réseau »).

    Renders the Markdown: may raise SectionTooLarge or RenderTooSlow.
    """
    if not is_curator(user):
        raise PermissionDenied
    note = note.strip()
    writeup.network_note = note or None
    writeup.network_note_html = render_markdown(note) if note else None
    writeup.version += 1
    session.add(writeup)
    record(session, action="note", writeup=writeup, actor_id=user.id)
    return "Le regard du réseau est enregistré." if note else "Le regard du réseau est retiré."


def act(
    session: Session, *, user: User, slug: str, action: str, comment: str = "", note: str = ""
) -> str:
    """Apply a curator's action of the review page to the fiche `slug` (locked for update):
    "note", "comment" or one of `CURATOR_ACTIONS`. Return a French confirmation.

    Raises FicheNotFound, CommentRequired (nothing written), PermissionDenied,
    TransitionError (also for an unknown action), SectionTooLarge or RenderTooSlow.
    """
    writeup = get_by_slug(session, slug, for_update=True)
    if writeup is None:
        raise FicheNotFound
    if action in COMMENT_ACTIONS and not comment.strip():
        raise CommentRequired(comment_required_message(action), field="comment")
    actor = session.get(User, user.id)
    if actor is None:
        raise PermissionDenied
    if action == "note":
        return set_note(session, user=actor, writeup=writeup, note=note)
    if action == "comment":
        return add_comment(session, user=actor, writeup=writeup, body=comment)
    if action in CURATOR_ACTIONS:
        revision = writeup.status == "published" and writeup.pending_status == "submitted"
        message = transition(session, user=actor, writeup=writeup, action=action, comment=comment)
        if action == "publish" and revision:  # the revision's files are published with it
            session.execute(
                update(Attachment)
                .where(col(Attachment.writeup_id) == writeup.id, col(Attachment.pending).is_(True))
                .values(pending=False)
            )
        return message
    raise TransitionError(f"Action inconnue « {action[:40]} ».")

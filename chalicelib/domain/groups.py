"""Named groups: an account's catalogue of the groups, events, organisations, employees and topics its messages go
to, each with an id (what a `group:<id>` suppression scope and a send request's `groups` name) and a name people
search by.

A name is searched word by word: each word of the query must begin a word of the name, case and accents aside
("emp ann" finds "Annual Employee Meeting", "zoe" finds "Zoë"). The store answers from an index of the name's
words (`name_words`), never by reading every group.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.domain.errors import Conflict, InvalidRequest, RequestNotFound
from chalicelib.domain.models import GROUP_ID_PATTERN, Frozen
from chalicelib.domain.ports import Groups

GroupKind = Literal["group", "event", "organisation", "employee", "topic"]
KINDS: tuple[GroupKind, ...] = ("group", "event", "organisation", "employee", "topic")
MAX_NAME_LENGTH = 200
#: Words of a name the index keeps (a group and its index items are written in one transaction of at most 100).
MAX_NAME_WORDS = 20
#: The longest word kept in the index (longer ones are cut: a query word is matched as a prefix anyway).
MAX_WORD_LENGTH = 64
#: Words a query may have.
MAX_QUERY_WORDS = 8
# C0 and C1 controls, line and paragraph separators, bidi overrides and isolates: a name is shown in the console.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_WORD = re.compile(r"\w+")


class GroupNotFound(RequestNotFound):
    code = "group_not_found"


class GroupExists(Conflict):
    code = "group_exists"


def check_name(name: str) -> str:
    """A name people can read: visible characters, no control characters or line breaks, a letter or digit."""
    if not name.strip() or _UNPRINTABLE.search(name):
        raise ValueError("name must have visible characters and no control characters or line breaks")
    if not name_words(name):
        raise ValueError("name must have at least one letter or digit")
    return name


class Group(Frozen):
    """One named group of an account. `version` counts its saves (every save is conditional on it)."""

    account_id: str
    kind: GroupKind
    id: str = Field(pattern=GROUP_ID_PATTERN.pattern)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    created_at: datetime
    updated_at: datetime
    version: int = 0

    _name = field_validator("name")(check_name)

    @property
    def words(self) -> tuple[str, ...]:
        return name_words(self.name)


def fold(text: str) -> str:
    """`text` in lower case without accents (NFKD, combining marks dropped): "Zoë ÉCOLE" -> "zoe ecole"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def name_words(name: str) -> tuple[str, ...]:
    """The distinct words of a name, folded, in sorted order (at most MAX_NAME_WORDS, each cut to MAX_WORD_LENGTH):
    the keys of its search index."""
    words = {word[:MAX_WORD_LENGTH] for word in _WORD.findall(fold(name)) if word != "_"}
    return tuple(sorted(words))[:MAX_NAME_WORDS]


def query_words(q: str) -> tuple[str, ...]:
    """The words of a search query, folded (InvalidRequest when it has none, or too many)."""
    words = tuple(dict.fromkeys(word[:MAX_WORD_LENGTH] for word in _WORD.findall(fold(q)) if word != "_"))
    if not words:
        raise InvalidRequest("q must have at least one letter or digit", field="q")
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidRequest(f"q may have at most {MAX_QUERY_WORDS} words", field="q")
    return words


def search_word(words: Sequence[str]) -> str:
    """The query word the store looks up in the index (the longest: the fewest candidates)."""
    return max(words, key=len)


def matches(group: Group, words: Sequence[str], kind: GroupKind | None = None) -> bool:
    """Whether every query word begins a word of the group's name (and the group is of `kind`, when given)."""
    if kind is not None and group.kind != kind:
        return False
    own = group.words
    return all(any(word.startswith(query) for word in own) for query in words)


def indexed_by(group: Group, prefix: str) -> str | None:
    """The one index word under which a search for `prefix` answers `group`: the first word of its name (in index
    order) that begins with `prefix`. Other words with the prefix are skipped, so a group is found once."""
    return next((word for word in group.words if word.startswith(prefix)), None)


# --- use cases -----------------------------------------------------------------------------------------------------


def create_group(store: Groups, account_id: str, kind: GroupKind, group_id: str, name: str, now: datetime) -> Group:
    """Add a group; GroupExists (409) when the account has a group with this id."""
    group = Group(account_id=account_id, kind=kind, id=group_id, name=name, created_at=now, updated_at=now)
    if not store.save_group(group, None):
        raise GroupExists(f"the account has a group {group_id} already", id=group_id)
    return group.model_copy(update={"version": 1})


def get_group(store: Groups, account_id: str, group_id: str) -> Group:
    """One group; GroupNotFound (404) when the account has none with this id."""
    group = store.get_group(account_id, group_id)
    if group is None:
        raise GroupNotFound(f"no group {group_id}", id=group_id)
    return group


def update_group(store: Groups, account_id: str, group_id: str, kind: GroupKind, name: str, now: datetime) -> Group:
    """Rename a group or change its kind (its id stays: suppressions name it); GroupNotFound when there is none."""
    for _ in range(5):
        current = get_group(store, account_id, group_id)
        changed = current.model_copy(update={"kind": kind, "name": name, "updated_at": now})
        changed = Group.model_validate(changed.model_dump())
        if store.save_group(changed, current):
            return changed.model_copy(update={"version": current.version + 1})
    raise Conflict("the group kept changing while it was saved; retry", id=group_id)


def delete_group(store: Groups, account_id: str, group_id: str) -> Group:
    """Remove a group from the catalogue (suppressions in its scope stay: they name its id); the group removed."""
    group = get_group(store, account_id, group_id)
    store.delete_group(group)
    return group


def find_groups(
    store: Groups,
    account_id: str,
    q: str | None,
    kind: GroupKind | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Group], str | None]:
    """The account's groups by id, or those whose name matches `q` (by index word), of `kind` when given; a page."""
    if q is None or not q.strip():
        return store.list_groups(account_id, kind, cursor, limit)
    return store.search_groups(account_id, query_words(q), kind, cursor, limit)

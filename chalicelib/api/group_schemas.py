"""What the named-group calls read and answer (`groups.py`), as pydantic models: the OpenAPI document is generated
from them, as from `schemas.py`."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field, field_validator

from chalicelib.api.schemas import PATH_DESCRIPTIONS, PATH_PATTERNS, AsciiInt, Cursor, Query
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.groups import MAX_NAME_LENGTH, Group, GroupKind, check_name
from chalicelib.domain.models import GROUP_ID_PATTERN, Frozen

# The document describes every path parameter from these two maps.
PATH_PATTERNS["group_id"] = GROUP_ID_PATTERN.pattern
PATH_DESCRIPTIONS["group_id"] = "a named group's id (what `group:<id>` scopes name)"
KIND_DESCRIPTION = "group, event, organisation, employee or topic"
_GROUP_ID = re.compile(GROUP_ID_PATTERN.pattern)


def group_id_value(value: str) -> str:
    """A decoded `{group_id}`, when it fits its pattern; InvalidRequest (400) otherwise."""
    if not _GROUP_ID.fullmatch(value):
        raise InvalidRequest(f"group_id is not valid: {PATH_DESCRIPTIONS['group_id']}", field="group_id")
    return value


class GroupIn(Frozen):
    """A new named group: its kind, its id (what suppressions and send requests name) and the name people search."""

    kind: GroupKind = Field(description=KIND_DESCRIPTION)
    id: str = Field(pattern=GROUP_ID_PATTERN.pattern, description="letters, digits and `_.:@/-`, up to 128")
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="what people find it by")

    _name = field_validator("name")(check_name)


class GroupChangeIn(Frozen):
    """A group's new kind and name (its id stays: suppressions name it)."""

    kind: GroupKind = Field(description=KIND_DESCRIPTION)
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)

    _name = field_validator("name")(check_name)


class GroupsQuery(Query):
    q: str | None = Field(
        default=None,
        max_length=200,
        description="words the name's words begin with, case and accents aside (`ann gal` finds 'Annual Gala')",
    )
    kind: GroupKind | None = Field(default=None, description="only groups of this kind")
    cursor: Cursor | None = Field(default=None, description="`next_cursor` of the page before")
    limit: AsciiInt = Field(default=50, ge=1, le=200, description="groups per page")


class GroupView(Frozen):
    kind: GroupKind
    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, group: Group) -> GroupView:
        return cls.model_validate({name: getattr(group, name) for name in cls.model_fields})


class GroupsPage(Frozen):
    groups: list[GroupView] = Field(description="by id; with `q`, by the name's matching word")
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")

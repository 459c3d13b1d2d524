"""Groups: the same cases on the fake and on DynamoDB (the group items and the index of their names' words)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain import groups
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.groups import Group, GroupExists, GroupNotFound
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, T0


def every_page(fetch, limit: int) -> list[str]:
    """The ids of every group a listing answers, following its cursors (a page may be short of `limit`)."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page, cursor = fetch(cursor, limit)
        assert len(page) <= limit
        ids += [group.id for group in page]
        if cursor is None:
            return ids
    raise AssertionError("the listing did not end")


def catalogue(stores: Stores) -> None:
    store = stores.groups
    for kind, group_id, name in [
        ("event", "gala-2026", "Annual Charity Gala"),
        ("event", "spring-fair", "Spring Fair"),
        ("organisation", "acme-corp", "ACME Corporation"),
        ("employee", "emp-42", "Zoë Ånnström"),
        ("employee", "emp-7", "Anna Annual-Reviewer"),
        ("topic", "newsletter", "Weekly newsletter"),
        ("group", "vip", "VIP customers"),
    ]:
        groups.create_group(store, ACCOUNT, kind, group_id, name, T0)
    groups.create_group(store, "other", "event", "gala-2026", "Annual Charity Gala (other account)", T0)


def search(stores: Stores, q: str, kind=None, limit: int = 50) -> list[str]:
    words = groups.query_words(q)
    return every_page(lambda cursor, size: stores.groups.search_groups(ACCOUNT, words, kind, cursor, size), limit)


def test_a_group_is_created_once_and_read_back(stores: Stores) -> None:
    created = groups.create_group(stores.groups, ACCOUNT, "event", "gala-2026", "Annual Charity Gala", T0)
    assert groups.get_group(stores.groups, ACCOUNT, "gala-2026") == created
    assert created.version == 1
    with pytest.raises(GroupExists):
        groups.create_group(stores.groups, ACCOUNT, "topic", "gala-2026", "Something else", T0)
    assert groups.get_group(stores.groups, ACCOUNT, "gala-2026").name == "Annual Charity Gala"
    assert stores.groups.get_group("other", "gala-2026") is None


def test_the_list_is_by_id_page_by_page_and_per_account(stores: Stores) -> None:
    catalogue(stores)
    listing = every_page(lambda cursor, size: stores.groups.list_groups(ACCOUNT, None, cursor, size), 3)
    assert listing == ["acme-corp", "emp-42", "emp-7", "gala-2026", "newsletter", "spring-fair", "vip"]
    events = every_page(lambda cursor, size: stores.groups.list_groups(ACCOUNT, "event", cursor, size), 1)
    assert events == ["gala-2026", "spring-fair"]
    first, cursor = stores.groups.list_groups(ACCOUNT, None, None, 7)
    assert len(first) == 7 and cursor is None


def test_a_name_is_found_by_the_beginnings_of_its_words_whatever_the_case_and_accents(stores: Stores) -> None:
    catalogue(stores)
    assert search(stores, "gala") == ["gala-2026"]
    assert search(stores, "ANN") == ["emp-7", "emp-42", "gala-2026"]  # by index word: anna, annstrom, annual
    assert search(stores, "annstrom") == ["emp-42"]
    assert search(stores, "zoe") == ["emp-42"]
    assert search(stores, "char ann") == ["gala-2026"]
    assert search(stores, "ann", kind="employee") == ["emp-7", "emp-42"]
    assert search(stores, "ala") == []  # a word's middle is not its beginning
    assert search(stores, "annual reviewer") == ["emp-7"]


def test_a_search_answers_each_group_once_across_pages(stores: Stores) -> None:
    catalogue(stores)
    # "Anna Annual-Reviewer" has two words beginning "ann": it is answered once, on whichever page
    assert search(stores, "ann", limit=1) == ["emp-7", "emp-42", "gala-2026"]


def test_a_rename_moves_the_group_in_the_index_and_is_conditional_on_its_version(stores: Stores) -> None:
    catalogue(stores)
    later = T0 + timedelta(hours=1)
    renamed = groups.update_group(stores.groups, ACCOUNT, "spring-fair", "event", "Autumn Market", later)
    assert renamed.name == "Autumn Market" and renamed.updated_at == later and renamed.created_at == T0
    assert search(stores, "spring") == []
    assert search(stores, "autumn") == ["spring-fair"]
    stale = Group(account_id=ACCOUNT, kind="event", id="spring-fair", name="Stale", created_at=T0, updated_at=T0)
    at_version_1 = stale.model_copy(update={"version": 1})
    assert not stores.groups.save_group(at_version_1, at_version_1)
    assert groups.get_group(stores.groups, ACCOUNT, "spring-fair").name == "Autumn Market"
    with pytest.raises(GroupNotFound):
        groups.update_group(stores.groups, ACCOUNT, "nope", "event", "Nope", later)


def test_a_deleted_group_leaves_the_list_and_the_index(stores: Stores) -> None:
    catalogue(stores)
    deleted = groups.delete_group(stores.groups, ACCOUNT, "gala-2026")
    assert deleted.id == "gala-2026"
    assert stores.groups.get_group(ACCOUNT, "gala-2026") is None
    assert search(stores, "gala") == []
    assert stores.groups.get_group("other", "gala-2026") is not None
    with pytest.raises(GroupNotFound):
        groups.delete_group(stores.groups, ACCOUNT, "gala-2026")


@pytest.mark.parametrize("cursor", ["not a cursor!", "eyJ4IjoxfQ", "bnVsbA"])
def test_a_cursor_the_store_did_not_return_is_refused(stores: Stores, cursor: str) -> None:
    catalogue(stores)
    with pytest.raises(InvalidRequest):
        stores.groups.list_groups(ACCOUNT, None, cursor, 10)
    with pytest.raises(InvalidRequest):
        stores.groups.search_groups(ACCOUNT, ("ann",), None, cursor, 10)

"""Reads of a sharded key's partitions, several at once: one pool of threads for every store that shards a key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

#: Shard queries run at once (botocore keeps 10 connections per client).
SHARD_THREADS = 8

T = TypeVar("T")
R = TypeVar("R")
_pool: ThreadPoolExecutor | None = None


def each_shard(read: Callable[[T], R], shards: Iterable[T]) -> list[R]:
    """`read` of every shard, SHARD_THREADS at a time, in the shards' order (an error of one is raised here)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=SHARD_THREADS, thread_name_prefix="shard-read")
    return list(_pool.map(read, shards))

"""The rules that decide what an event does to a number: who may lift what, and in which order.

`apply` is a pure fold: (current state, event) -> (new state, history record). The store writes
both in one conditional transaction; nothing here does I/O.
"""

from __future__ import annotations

from chalicelib.domain.errors import LiftRefused, NotSuppressed
from chalicelib.domain.models import (
    ADMIN_LIFTABLE_SOURCES,
    ALL,
    CONTACT_SOURCES,
    Action,
    Change,
    Event,
    EventRecord,
    NumberState,
    Outcome,
    Source,
    Suppression,
)

#: A contact's opt-in lifts their own opt-outs and bounces, never an admin's manual or import one.
CONTACT_LIFTABLE_SOURCES = CONTACT_SOURCES | {Source.BOUNCE}

#: When a scope is suppressed twice, the stronger source stays: only the contact lifts their own.
_STRENGTH = {
    Source.BOUNCE: 0,
    Source.MANUAL: 1,
    Source.IMPORT: 1,
    Source.KEYWORD: 2,
    Source.NATURAL_LANGUAGE: 2,
    Source.CARRIER: 2,
}


def apply(state: NumberState, event: Event) -> tuple[NumberState, EventRecord]:
    """Apply `event` to `state`, returning the new state and the history record to append.

    Scopes whose latest applied event is newer (by carrier time) than this one are left alone
    (DESIGN rule 5); if that is every scope the event touches, the outcome is `superseded`.
    Raises LiftRefused or NotSuppressed for an admin lift that is not allowed or has nothing to lift.
    """
    suppressions = dict(state.suppressions)
    clock = dict(state.clock)
    changes: list[Change] = []
    superseded = 0
    targets = _target_scopes(state, event)
    for scope in targets:
        if scope in clock and clock[scope] > event.occurred_at:
            superseded += 1
            continue
        clock[scope] = event.occurred_at
        current = suppressions.get(scope)
        if event.action is Action.OPT_OUT:
            assert event.source is not None
            if current is None or _STRENGTH[event.source] > _STRENGTH[current.source]:
                suppressions[scope] = Suppression(
                    scope=scope,
                    source=event.source,
                    since=event.occurred_at,
                    event_id=event.event_id,
                    actor=event.actor,
                    notes=event.notes,
                )
                changes.append(Change(scope=scope, change="suppressed", source=event.source))
        elif current is not None and _may_lift(event, current):
            del suppressions[scope]
            changes.append(Change(scope=scope, change="lifted", source=current.source))

    outcome: Outcome
    if targets and superseded == len(targets):
        outcome = "superseded"
    elif changes:
        outcome = "applied"
    else:
        outcome = "unchanged"
    new_state = state.model_copy(update={"suppressions": suppressions, "clock": clock})
    record = EventRecord(event=event, outcome=outcome, changes=tuple(changes), sequence=state.version + 1)
    return new_state, record


def worth_recording(record: EventRecord) -> bool:
    """Replies and YES that change nothing are ordinary messages, not history events."""
    if record.event.action is Action.REPLY:
        return bool(record.changes)
    if record.event.action is Action.OPT_IN and record.event.only_sources is not None:
        return bool(record.changes)
    return True


def check_lift(state: NumberState, scope: str) -> Suppression:
    """The suppression an admin asks to lift in `scope`, if an admin may lift it (DESIGN rule 4)."""
    suppression = state.suppressions.get(scope)
    if suppression is None:
        raise NotSuppressed(f"{state.phone} has no suppression in scope {scope}", phone=state.phone, scope=scope)
    if suppression.source not in ADMIN_LIFTABLE_SOURCES:
        raise LiftRefused(
            f"the {suppression.source.value} opt-out in scope {scope} is the contact's own; "
            "only the contact can lift it, by texting an opt-in keyword such as START from that number",
            phone=state.phone,
            scope=scope,
            source=suppression.source.value,
        )
    return suppression


def _target_scopes(state: NumberState, event: Event) -> list[str]:
    if event.action is Action.REPLY:
        return sorted(scope for scope, s in state.suppressions.items() if s.source is Source.BOUNCE)
    return list(dict.fromkeys(event.scopes))


def _may_lift(event: Event, suppression: Suppression) -> bool:
    if event.only_sources is not None and suppression.source not in event.only_sources:
        return False
    if event.action is Action.LIFT:
        return suppression.source in ADMIN_LIFTABLE_SOURCES
    if event.action is Action.OPT_IN:
        return suppression.source in CONTACT_LIFTABLE_SOURCES
    if event.action is Action.REPLY:
        return suppression.source is Source.BOUNCE
    return False


def opt_in_scopes(to_phone: str) -> tuple[str, str]:
    """A contact's opt-in to one of our numbers lifts account-wide and that sender's opt-outs."""
    return (ALL, f"sender:{to_phone}")

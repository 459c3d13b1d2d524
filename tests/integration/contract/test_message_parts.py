"""The MessageParts contract: the parts of a long message are kept until all have come, then given back in order."""

from __future__ import annotations

from chalicelib.domain.models import InboundMessage, MessagePart
from chalicelib.domain.ports import Stores
from tests.integration.contract.examples import ACCOUNT, PHONE, T0


def part(number: int, total: int = 3, reference: str = "ref-1", sender: str = PHONE) -> InboundMessage:
    return InboundMessage(
        carrier="carrier",
        message_id=f"{reference}-part-{number}",
        account_id=ACCOUNT,
        from_phone=sender,
        to_phone="+14155550100",
        body=f"<{number}>",
        occurred_at=T0,
        received_at=T0,
        part=MessagePart(reference=reference, number=number, total=total),
    )


def test_nothing_comes_back_until_every_part_has_come_then_all_of_them_in_order(stores: Stores) -> None:
    assert stores.parts.add_part(part(3)) == []
    assert stores.parts.add_part(part(1)) == []
    joined = stores.parts.add_part(part(2))
    assert [p.body for p in joined] == ["<1>", "<2>", "<3>"]


def test_a_part_delivered_again_changes_nothing(stores: Stores) -> None:
    assert stores.parts.add_part(part(1, total=2)) == []
    assert stores.parts.add_part(part(1, total=2)) == []
    assert [p.message_id for p in stores.parts.add_part(part(2, total=2))] == ["ref-1-part-1", "ref-1-part-2"]
    # The last part delivered again gives the whole message again: the inbound event id makes that harmless
    assert len(stores.parts.add_part(part(2, total=2))) == 2


def test_parts_of_other_messages_and_other_senders_do_not_mix(stores: Stores) -> None:
    assert stores.parts.add_part(part(1, total=2, reference="a")) == []
    assert stores.parts.add_part(part(2, total=2, reference="b")) == []
    assert stores.parts.add_part(part(2, total=2, reference="a", sender="+14155550999")) == []
    assert len(stores.parts.add_part(part(2, total=2, reference="a"))) == 2

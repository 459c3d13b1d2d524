"""The change events' EventBridge bus: one per stage, named in every function's environment, put to by the send
function alone (it fans each change out), and only that bus."""

from __future__ import annotations

import pytest

from tests.infra.conftest import Synthesised, dump
from tests.infra.test_stack import FUNCTIONS, SEND_FUNCTION, actions_by_resource, all_actions, function, role_of

pytestmark = pytest.mark.slow


def bus_id(synthesised: Synthesised) -> str:
    return synthesised.logical_id("AWS::Events::EventBus", "ChangeEventBus")


def test_one_bus_per_stage(prod: Synthesised, dev: Synthesised) -> None:
    for synthesised, stage in ((prod, "prod"), (dev, "dev")):
        bus = synthesised.resource("AWS::Events::EventBus")
        assert bus["Properties"]["Name"] == f"sms-optout-{stage}-events"


def test_every_function_knows_the_bus_and_refuses_loopback_endpoints(stage: Synthesised) -> None:
    for logical_id in FUNCTIONS:
        variables = function(stage, logical_id)["Environment"]["Variables"]
        assert variables["OPTOUT_EVENT_BUS_NAME"] == {"Ref": bus_id(stage)}
        # Plain http:// to this machine is for local runs: a deployed stage posts to https:// public hosts only.
        assert variables["OPTOUT_ALLOW_LOOPBACK_ENDPOINTS"] == "false"


def test_only_the_send_function_puts_events_and_only_on_this_bus(stage: Synthesised) -> None:
    bus_arn = dump({"Fn::GetAtt": [bus_id(stage), "Arn"]})
    for logical_id in FUNCTIONS:
        role = role_of(stage, logical_id)
        if logical_id == SEND_FUNCTION:
            granted = actions_by_resource(stage, role)
            assert granted[bus_arn] == {"events:PutEvents"}
            assert [key for key, actions in granted.items() if "events:PutEvents" in actions] == [bus_arn]
        else:
            assert not any(action.startswith("events:") for action in all_actions(stage, role)), logical_id


def test_the_bus_is_an_output(stage: Synthesised) -> None:
    assert stage.template["Outputs"]["EventBusName"]["Value"] == {"Ref": bus_id(stage)}

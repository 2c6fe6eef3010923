"""Early-bird tiers and stretch goals: the rules, free of I/O."""

from types import SimpleNamespace
from typing import Any

import pytest
from campaigns import domain
from campaigns.schemas import CampaignCreate, CampaignUpdate
from dropwave_runtime.errors import Conflict, Invalid
from pydantic import ValidationError

TIERS = [{"up_to_buyer": 50, "price_cents": 2000}, {"up_to_buyer": 100, "price_cents": 2200}]
GOALS = [{"orders": 500, "message": "Everyone gets the enamel pin"}]


def test_tiers_must_have_increasing_bounds() -> None:
    domain.check_tiers(TIERS, "usd")
    domain.check_tiers([], "usd")
    for bad in ([TIERS[1], TIERS[0]], [TIERS[0], {"up_to_buyer": 50, "price_cents": 2100}]):
        with pytest.raises(Invalid) as caught:
            domain.check_tiers(bad, "usd")
        assert caught.value.code == "tiers_not_increasing"


def test_tier_prices_follow_the_currency_rules() -> None:
    with pytest.raises(Invalid) as caught:
        domain.check_tiers([{"up_to_buyer": 5, "price_cents": 2005}], "kwd")
    assert caught.value.code == "price_not_chargeable"
    domain.check_tiers([{"up_to_buyer": 5, "price_cents": 2010}], "kwd")


def test_stretch_goals_are_above_the_minimum_and_increasing() -> None:
    domain.check_stretch_goals(GOALS, 100)
    with pytest.raises(Invalid) as caught:
        domain.check_stretch_goals([{"orders": 100, "message": "m"}], 100)
    assert caught.value.code == "stretch_goal_not_above_minimum"
    with pytest.raises(Invalid) as caught:
        domain.check_stretch_goals(
            [{"orders": 300, "message": "a"}, {"orders": 200, "message": "b"}], 100
        )
    assert caught.value.code == "stretch_goals_not_increasing"


def test_stretch_goals_are_crossed_once() -> None:
    goals = [{"orders": 10, "message": "a"}, {"orders": 20, "message": "b"}]
    assert domain.stretch_goals_crossed(goals, [], 9) == []
    assert domain.stretch_goals_crossed(goals, [], 25) == goals
    assert domain.stretch_goals_crossed(goals, [10], 25) == goals[1:]
    assert domain.stretch_goals_crossed(goals, [10, 20], 30) == []


@pytest.mark.parametrize("field", ["price_tiers", "stretch_goals"])
def test_tiers_and_goals_are_rules_locked_once_published(field: str) -> None:
    domain.check_editable("draft", {field})
    with pytest.raises(Conflict) as caught:
        domain.check_editable("active", {field})
    assert caught.value.code == "rules_locked"


def terms(highest: int, reached: list[int] | None = None) -> dict[str, Any]:
    campaign = SimpleNamespace(
        price_cents=2500,
        price_tiers=TIERS,
        stretch_goals=GOALS,
        stretch_goals_reached=reached or [],
        highest_buyer_number=highest,
    )
    return domain.public_terms(campaign)


def test_public_terms_price_the_next_buyer_and_show_the_tier_ahead() -> None:
    assert terms(0) | {"stretch_goals": None} == {
        "current_price_cents": 2000,
        "current_price_until_buyer": 50,
        "next_price_cents": 2200,
        "stretch_goals": None,
    }
    assert terms(49)["current_price_cents"] == 2000
    assert (terms(50)["current_price_cents"], terms(50)["next_price_cents"]) == (2200, 2500)
    assert terms(100)["current_price_cents"] == 2500
    assert terms(100)["current_price_until_buyer"] is None
    assert terms(100)["next_price_cents"] is None
    assert terms(0)["stretch_goals"] == [{**GOALS[0], "reached": False}]
    assert terms(600, [500])["stretch_goals"] == [{**GOALS[0], "reached": True}]


BASE: dict[str, Any] = {
    "title": "Pins",
    "price_cents": 2500,
    "min_orders": 10,
    "deadline": "2030-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    "extra",
    [
        {"price_tiers": [{"up_to_buyer": 0, "price_cents": 2000}]},
        {"price_tiers": [{"up_to_buyer": 5, "price_cents": 99}]},
        {"price_tiers": [{"up_to_buyer": 5, "price_cents": 1_000_001}]},
        {"price_tiers": [{"up_to_buyer": 5}]},
        {"price_tiers": [{"up_to_buyer": 5, "price_cents": 2000, "extra": 1}]},
        {"price_tiers": [{"up_to_buyer": n, "price_cents": 2000} for n in range(1, 12)]},
        {"stretch_goals": [{"orders": 20, "message": ""}]},
        {"stretch_goals": [{"orders": 20, "message": "<b>pin</b>"}]},
        {"stretch_goals": [{"orders": 20, "message": "line\nbreak"}]},
        {"stretch_goals": [{"orders": 20, "message": "x" * 201}]},
    ],
)
def test_bad_tiers_and_goals_are_refused_by_the_schema(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CampaignCreate.model_validate(BASE | extra)


def test_update_sends_tiers_and_goals_as_plain_lists() -> None:
    update = CampaignUpdate.model_validate({"price_tiers": TIERS, "stretch_goals": GOALS})
    assert update.changes() == {"price_tiers": TIERS, "stretch_goals": GOALS}
    with pytest.raises(ValidationError):
        CampaignUpdate.model_validate({"price_tiers": None})

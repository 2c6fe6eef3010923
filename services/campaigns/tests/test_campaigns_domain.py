from datetime import UTC, datetime, timedelta

import pytest
from campaigns import domain


@pytest.mark.parametrize(
    ("reached", "current", "min_orders", "expected"),
    [
        ([], 0, 8, []),
        ([], 2, 8, [25]),
        ([], 8, 8, [25, 50, 75, 100]),
        ([25, 50], 6, 8, [75]),
        ([25, 50, 75, 100], 20, 8, []),
        ([], 1, 5, []),  # 20 % is below the first milestone
        ([], 3, 5, [25, 50]),  # 60 %
    ],
)
def test_milestones_are_crossed_once(
    reached: list[int], current: int, min_orders: int, expected: list[int]
) -> None:
    assert domain.milestones_crossed(reached, current, min_orders) == expected


def test_slugify() -> None:
    assert domain.slugify("Walnut Desk Organiser!") == "walnut-desk-organiser"
    assert domain.slugify("Café  déjà vu") == "cafe-deja-vu"
    assert domain.slugify("!!!") == "drop"


def test_publish_rules() -> None:
    now = datetime.now(UTC)
    domain.check_publishable("draft", now + timedelta(hours=2), now, 3600)
    with pytest.raises(domain.RuleViolation) as exc:
        domain.check_publishable("active", now + timedelta(hours=2), now, 3600)
    assert exc.value.code == "not_draft"
    with pytest.raises(domain.RuleViolation) as exc:
        domain.check_publishable("draft", now + timedelta(minutes=30), now, 3600)
    assert exc.value.code == "deadline_too_soon"

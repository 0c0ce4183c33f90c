"""The city's vehicle registry: a CSV import names every problem by line and field, imports all or
nothing, keeps a replaced plate's id, is audited, and reaches the rules' copy at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safecity import registry
from safecity.core.clock import ManualClock
from safecity.core.context import SYSTEM
from safecity.core.errors import AccessDenied
from safecity.core.ids import PROVINCES, id_number_check_char
from safecity.platform import Platform
from safecity.security import audit
from safecity.security.audit import AuditFilter
from safecity.settings import Settings
from safecity.store import transaction
from safecity.workbench.vehicle_facts import NAME as VEHICLE_REGISTRY
from safecity.workbench.vehicle_registry import RegistrationsRefused, VehicleRegistry, parse_csv

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
ID_NUMBER = "33030219900101123" + id_number_check_char("33030219900101123")
HEADER = "plate,plate_colour,vehicle_type,body_colour,make_model,owner_id,status,registered_at\n"
GOOD = HEADER + (
    "浙C·3F721,蓝,轿车,白色,大众朗逸,,registered,2019-05-06\n"
    "浙C 11111,blue,SUV,silver,比亚迪宋,,,2024-03-05T10:00:00+08:00\n"
)


def problems_of(text: str) -> list[str]:
    with pytest.raises(RegistrationsRefused) as refused:
        parse_csv(text)
    return [str(p) for p in refused.value.problems]


def test_a_registry_export_is_read_in_the_registrys_own_words() -> None:
    rows = parse_csv(GOOD)
    assert rows["plate"].to_list() == ["浙C3F721", "浙C11111"]
    assert rows.row(0, named=True) | {"registered_at": None} == {
        "plate": "浙C3F721",
        "plate_colour": "blue",
        "vehicle_type": "car",
        "body_colour": "white",
        "make_model": "大众朗逸",
        "owner_id": None,
        "status": "registered",
        "registered_at": None,
    }
    assert rows["registered_at"].to_list() == [
        datetime(2019, 5, 6, tzinfo=UTC),
        datetime(2024, 3, 5, 2, 0, tzinfo=UTC),
    ]


def test_every_problem_is_named_by_line_and_field() -> None:
    bad = HEADER + (
        "浙C3F721,blue,car,white,,,,2019-05-06\n"
        "浙I12345,blue,car,white,,,,2019-05-06\n"  # line 3: GA 36 has no I
        "浙C3F721,blue,car,white,,,,2019-05-06\n"  # line 4: the plate again
        "浙C22222,purple,tank,beige,,x,sold,05/06/2019\n"  # line 5: five problems
        "浙C33333,blue,car,white,,,,2019-05-06T10:00:00\n"  # line 6: a time without its offset
        "浙C44444,blue,car,white,大众,朗逸,,2019-05-06,extra\n"  # line 7: a comma in make_model
    )
    assert problems_of(bad) == [
        "line 3, plate: '浙I12345' is not a GA 36 plate such as 浙C12345",
        "line 4, plate: 浙C3F721 is also on line 2",
        "line 5, plate_colour: 'purple' is not a plate colour this registry knows",
        "line 5, vehicle_type: 'tank' is not a vehicle type this registry knows",
        "line 5, body_colour: 'beige' is not a body colour this registry knows",
        "line 5, owner_id: a registry person's id (a whole number), or empty",
        "line 5, status: one of registered, stolen, seized, scrapped, deregistered",
        "line 5, registered_at: '05/06/2019' is not a date (2024-03-05) or a time with its offset",
        "line 6, registered_at: give the time's UTC offset (+08:00), or a date alone",
        "line 7, row: 9 values, the header names 8",
    ]


def test_a_header_missing_a_column_or_naming_an_unknown_one_is_refused_at_line_1() -> None:
    assert problems_of("plate,colour,vehicle_type,registered_at\n浙C3F721,white,car,2019-05-06\n") == [
        "line 1, colour: unknown column; the columns are plate, plate_colour, vehicle_type, body_colour, "
        "registered_at, make_model, owner_id, status",
        "line 1, plate_colour: missing column",
        "line 1, body_colour: missing column",
    ]


plates = st.builds(
    lambda p, c, serial: f"{p}{c}{serial}",
    st.sampled_from(PROVINCES),
    st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    st.from_regex(r"[0-9]{5}", fullmatch=True),
)


@settings(max_examples=50, deadline=None)
@given(
    plate=plates,
    cut=st.integers(1, 6),
    separator=st.sampled_from([" ", "·", ".", "-", ""]),
    lower=st.booleans(),
)
def test_a_plate_as_people_type_it_is_stored_as_cameras_read_it(
    plate: str, cut: int, separator: str, lower: bool
) -> None:
    typed = plate[:cut] + separator + plate[cut:]
    rows = parse_csv(HEADER + f"{typed.lower() if lower else typed},blue,car,white,,,,2020-01-01\n")
    assert rows["plate"].to_list() == [plate]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    built = Platform.build(Settings(data_dir=tmp_path), clock=ManualClock(NOW))
    yield built
    built.engine.dispose()


def test_an_import_creates_then_replaces_by_plate_and_the_rules_see_it_at_once(platform: Platform) -> None:
    vehicles = platform.service(VehicleRegistry)
    facts = platform.facts.source(VEHICLE_REGISTRY)
    assert facts.frame().is_empty()  # loaded (empty) before the import: the import must reach it
    first = vehicles.import_csv(SYSTEM, GOOD, resource="test")
    assert (first.created, first.updated, first.removed) == (2, 0, 0)
    before = facts.of(["浙C3F721"])["浙C3F721"]
    assert before["body_colour"] == "white"

    again = (
        HEADER
        + "浙C3F721,blue,car,black,大众朗逸,,registered,2019-05-06\n浙C55555,green,car,white,,,,2025-01-01\n"
    )
    second = vehicles.import_csv(SYSTEM, again, resource="test")
    assert (second.created, second.updated) == (1, 1)
    after = facts.of(["浙C3F721", "浙C11111", "浙C55555"])
    assert after["浙C3F721"]["body_colour"] == "black"
    assert after["浙C3F721"]["registration_id"] == before["registration_id"]  # warnings refer to it
    assert set(after) == {"浙C3F721", "浙C11111", "浙C55555"}

    swapped = vehicles.import_csv(
        SYSTEM, HEADER + "浙C55555,green,car,white,,,,2025-01-01\n", replace=True, resource="test"
    )
    assert (swapped.created, swapped.updated, swapped.removed) == (0, 1, 2)
    assert facts.frame()["plate"].to_list() == ["浙C55555"]
    assert vehicles.count() == 1

    with platform.session_factory() as session:
        imports = audit.search(session, AuditFilter(action="vehicle_registry.import", limit=10))
    assert sorted((r.actor, r.result_count) for r in imports) == [("system", 1), ("system", 2), ("system", 2)]
    assert {json.loads(r.detail)["replace"] for r in imports} == {True, False}


def test_an_import_with_a_problem_imports_nothing_and_an_owner_must_exist(platform: Platform) -> None:
    vehicles = platform.service(VehicleRegistry)
    with transaction(platform.session_factory) as session:
        owner = registry.get_or_create_person(
            session,
            id_number=ID_NUMBER,
            name="王芳",
            phone=None,
            now=NOW,
            pseudonymize=platform.pseudonyms.pseudonym,
        ).id
    text = (
        HEADER
        + f"浙C3F721,blue,car,white,,{owner},,2019-05-06\n浙C11111,blue,car,white,,{owner + 99},,2019-05-06\n"
    )
    with pytest.raises(RegistrationsRefused) as refused:
        vehicles.import_csv(SYSTEM, text, resource="test")
    assert [str(p) for p in refused.value.problems] == [
        f"line 3, owner_id: there is no person {owner + 99} in the registry"
    ]
    assert vehicles.count() == 0
    done = vehicles.import_csv(
        SYSTEM, HEADER + f"浙C3F721,blue,car,white,,{owner},,2019-05-06\n", resource="test"
    )
    assert done.created == 1


def test_only_a_city_wide_account_imports_the_registry(platform: Platform) -> None:
    local = SYSTEM.__class__(actor="officer", role="officer", areas=frozenset({"C1"}))
    with pytest.raises(AccessDenied):
        platform.service(VehicleRegistry).import_csv(local, GOOD, resource="test")

"""Forged plates against the vehicle registry: the rule kinds, and the search agreeing with them and
with a brute-force reading of every read."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from safecity.rules.config import RuleConfig
from safecity.workbench import Engine
from safecity.workbench.forged import PlateMismatchRule, PlateUnregisteredRule
from safecity.workbench.forged_search import (
    PLATE_READ_COLUMNS,
    forged_plates,
    forged_reads_expr,
    per_plate_expr,
    registry_table,
)
from safecity.workbench.vehicle_facts import NAME, REGISTRY_SCHEMA, VehicleRegistryFacts
from safecity.workbench.vehicle_vocabulary import (
    BODY_COLOURS,
    OBSERVED_FIELDS,
    PLATE_COLOURS,
    REGISTERED_COLUMN,
    VEHICLE_TYPES,
    differs,
)
from tests.workbench.data import T0, frame, write

VOID = ["scrapped", "deregistered"]


class Registry(VehicleRegistryFacts):
    """The registry as the rules hold it, from rows instead of the database."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        super().__init__(sessionmaker[Session]())
        self._rows = rows

    def load(self) -> pl.DataFrame:
        return pl.DataFrame(self._rows, schema=REGISTRY_SCHEMA, orient="row")


class Facts:
    """The rules' facts: only the vehicle registry."""

    def __init__(self, registry: VehicleRegistryFacts) -> None:
        self.registry = registry

    def source(self, name: str) -> Any:
        assert name == NAME
        return self.registry


def registration(
    n: int, plate: str, vehicle_type: str, colour: str, status: str = "registered"
) -> tuple[Any, ...]:
    return (n, plate, "blue", vehicle_type, colour, "大众朗逸", status, T0 - timedelta(days=300))


def reads(*rows: tuple[str, str, dict[str, Any] | None]) -> pl.DataFrame:
    """(event id, plate, attrs) as plate reads a second apart, attrs stored as ingest stores them."""
    n = len(rows)
    records = frame(
        {
            "event_id": [r[0] for r in rows],
            "subject_kind": ["plate"] * n,
            "subject": [r[1] for r in rows],
            "device": ["CK-1"] * n,
            "ts": [T0 + timedelta(seconds=i) for i in range(n)],
            "lat": [30.0] * n,
            "lon": [120.6] * n,
            "area": ["A1"] * n,
        }
    )
    return records.with_columns(attrs=pl.Series([_json(r[2]) for r in rows], dtype=pl.String))


def _json(attrs: dict[str, Any] | None) -> str | None:
    return None if attrs is None else json.dumps(attrs, ensure_ascii=False, separators=(",", ":"))


def mismatch(**params: Any) -> PlateMismatchRule:
    return PlateMismatchRule(RuleConfig(name="forged-plate-mismatch", kind="plate_mismatch", params=params))


def unregistered(**params: Any) -> PlateUnregisteredRule:
    return PlateUnregisteredRule(
        RuleConfig(name="forged-plate-unregistered", kind="plate_unregistered", params=params)
    )


CITY = Registry(
    [
        registration(1, "浙C3F721", "car", "white"),
        registration(2, "浙C11111", "suv", "silver"),
        registration(3, "浙C22222", "car", "black", status="scrapped"),
    ]
)


def test_a_white_saloons_plate_on_a_black_suv_is_warned_of_with_the_read_and_the_registration() -> None:
    batch = reads(
        ("r1", "浙C3F721", {"vehicle_type": "越野车", "vehicle_colour": "黑色", "plate_colour": "蓝"}),
        ("r2", "浙C11111", {"vehicle_type": "suv", "vehicle_colour": "silver"}),
    )
    (found,) = mismatch().evaluate(batch, Facts(CITY), T0)  # type: ignore[arg-type]
    assert (found.rule_kind, found.subject, found.dedup_key) == (
        "plate_mismatch",
        "浙C3F721",
        "mismatch:浙C3F721",
    )
    assert [e.event_id for e in found.evidence] == ["r1"]
    # A saloon and an SUV are one class to a camera: only the colour contradicts the registration.
    assert found.facts["differs"] == ["vehicle_colour"]
    assert found.facts["observed"] == {
        "vehicle_type": "越野车",
        "vehicle_colour": "黑色",
        "plate_colour": "蓝",
    }
    assert found.facts["registered"]["body_colour"] == "white"
    assert found.facts["registered"]["make_model"] == "大众朗逸"
    assert found.ref("vehicle_registration") == "1"
    # Told to compare types exactly, the type contradicts it too.
    (exact,) = mismatch(coarse_types=False).evaluate(batch, Facts(CITY), T0)  # type: ignore[arg-type]
    assert exact.facts["differs"] == ["vehicle_type", "vehicle_colour"]


def test_unknown_missing_or_unsure_observations_and_camera_confusions_are_not_mismatches() -> None:
    batch = reads(
        ("a", "浙C11111", {"vehicle_colour": "grey"}),  # silver and grey: one colour to a camera
        ("b", "浙C3F721", {"vehicle_colour": "beige"}),  # a word no vocabulary knows
        ("c", "浙C3F721", {"vehicle_colour": "unknown", "vehicle_type": ""}),
        ("d", "浙C3F721", None),  # a camera that says nothing
        ("e", "浙C3F721", {"vehicle_colour": "black", "confidence": 0.4}),  # unsure of the plate
        ("f", "浙C3F721", {"vehicle_colour": "black", "confidence": 55}),  # a percentage
        ("g", "浙C99999", {"vehicle_colour": "black"}),  # no registration to contradict
    )
    assert mismatch(min_confidence=0.8).evaluate(batch, Facts(CITY), T0) == []  # type: ignore[arg-type]
    # Fields not chosen are not compared.
    colour = reads(("h", "浙C3F721", {"vehicle_colour": "black", "plate_colour": "blue"}))
    assert mismatch(fields=["plate_colour"]).evaluate(colour, Facts(CITY), T0) == []  # type: ignore[arg-type]


def test_an_unregistered_or_scrapped_plate_of_the_province_is_warned_of_and_others_are_not() -> None:
    batch = reads(
        ("r1", "浙C9Q404", {"confidence": 0.95}),
        ("r2", "浙C9Q404", {"confidence": 95}),  # the same, as a percentage: one warning, two reads
        ("r3", "浙C22222", None),  # registered, but scrapped
        ("r4", "皖A12345", None),  # another province's: not in this city's registry
        ("r5", "浙C55555", {"confidence": 0.5}),  # too unsure to be a plate
        ("r6", "浙C3F721", None),  # registered and in use
    )
    found = unregistered(provinces=["浙"], min_confidence=0.8).evaluate(batch, Facts(CITY), T0)  # type: ignore[arg-type]
    by_plate = {f.subject: f for f in found}
    assert sorted(by_plate) == ["浙C22222", "浙C9Q404"]
    assert [e.event_id for e in by_plate["浙C9Q404"].evidence] == ["r1", "r2"]
    assert by_plate["浙C9Q404"].facts["registered"] is None
    assert by_plate["浙C9Q404"].dedup_key == "unregistered:浙C9Q404"
    assert by_plate["浙C22222"].facts["registered"]["status"] == "scrapped"
    # Without provinces every plate is looked up; with 浙C only Wenzhou's.
    everyone = unregistered().evaluate(batch, Facts(CITY), T0)  # type: ignore[arg-type]
    assert "皖A12345" in {f.subject for f in everyone}
    wenzhou = unregistered(provinces=["浙c"]).evaluate(reads(("x", "浙A00001", None)), Facts(CITY), T0)  # type: ignore[arg-type]
    assert wenzhou == []


def test_no_plate_is_unregistered_while_no_registry_has_been_imported() -> None:
    batch = reads(("r1", "浙C9Q404", None))
    assert unregistered(provinces=["浙"]).evaluate(batch, Facts(Registry([])), T0) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "XX", "浙CC", "沪1", "C"])
def test_a_province_prefix_must_be_a_province_and_a_city_letter(prefix: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="province"):
        unregistered(provinces=[prefix]).params  # noqa: B018


# --- against brute force: generated registries and reads -------------------------------------------

PLATES = [f"浙C{n:05d}" for n in range(8)] + ["皖A00001", "浙A00002"]
WORDS = {
    "vehicle_type": [*VEHICLE_TYPES, "Sedan", "tank", ""],
    "vehicle_colour": [*BODY_COLOURS, " White ", "beige", "unknown"],
    "plate_colour": [*PLATE_COLOURS, "purple"],
}
attrs_of = st.fixed_dictionaries(
    {},
    optional={
        **{f: st.sampled_from(WORDS[f]) for f in OBSERVED_FIELDS},
        "confidence": st.one_of(st.integers(0, 100), st.floats(0, 1).map(lambda x: round(x, 2))),
    },
)
registration_of = st.tuples(
    st.sampled_from(sorted(set(VEHICLE_TYPES.values()))),
    st.sampled_from(sorted(set(BODY_COLOURS.values()))),
    st.sampled_from(sorted(set(PLATE_COLOURS.values()))),
    st.sampled_from(["registered", "registered", "stolen", "scrapped"]),
)
cities = st.dictionaries(st.sampled_from(PLATES), registration_of, min_size=1)
batches = st.lists(
    st.tuples(st.sampled_from(PLATES), st.one_of(st.none(), attrs_of)), min_size=1, max_size=30
)
choices = st.fixed_dictionaries(
    {
        "fields": st.lists(st.sampled_from(OBSERVED_FIELDS), min_size=1, unique=True),
        "coarse_types": st.booleans(),
        "provinces": st.sampled_from([[], ["浙"], ["浙C"]]),
        "min_confidence": st.sampled_from([0.0, 0.5, 0.9]),
    }
)


def city_of(held: dict[str, tuple[str, str, str, str]]) -> Registry:
    return Registry(
        [
            (n, plate, plate_colour, vehicle_type, colour, "", status, T0)
            for n, (plate, (vehicle_type, colour, plate_colour, status)) in enumerate(sorted(held.items()), 1)
        ]
    )


def brute(
    batch: list[tuple[str, dict[str, Any] | None]],
    held: dict[str, tuple[str, str, str, str]],
    c: dict[str, Any],
) -> tuple[set[str], set[str]]:
    """(mismatched read ids, unregistered read ids), by reading every read's JSON in Python."""
    wrong, unknown = set(), set()
    for n, (plate, attrs) in enumerate(batch):
        seen = attrs or {}
        confidence = seen.get("confidence")
        if (
            confidence is not None
            and (confidence / 100 if confidence > 1 else confidence) < c["min_confidence"]
        ):
            continue
        row = held.get(plate)
        registered = (
            None
            if row is None
            else dict(zip(("vehicle_type", "body_colour", "plate_colour"), row, strict=False))
        )
        if registered is not None and any(
            differs(f, seen.get(f), registered[REGISTERED_COLUMN[f]], coarse_types=c["coarse_types"])
            for f in c["fields"]
        ):
            wrong.add(f"e{n}")
        local = not c["provinces"] or plate.startswith(tuple(c["provinces"]))
        if local and (row is None or row[3] in VOID):
            unknown.add(f"e{n}")
    return wrong, unknown


def _batch(batch: list[tuple[str, dict[str, Any] | None]]) -> pl.DataFrame:
    return reads(*((f"e{n}", plate, attrs) for n, (plate, attrs) in enumerate(batch)))


@settings(max_examples=60, deadline=None)
@given(held=cities, batch=batches, c=choices)
def test_the_rules_warn_of_exactly_the_reads_brute_force_finds(
    held: dict[str, tuple[str, str, str, str]],
    batch: list[tuple[str, dict[str, Any] | None]],
    c: dict[str, Any],
) -> None:
    facts = Facts(city_of(held))
    records = _batch(batch)
    wrong = mismatch(fields=c["fields"], coarse_types=c["coarse_types"], min_confidence=c["min_confidence"])
    found = wrong.evaluate(records, facts, T0)  # type: ignore[arg-type]
    absent = unregistered(provinces=c["provinces"], min_confidence=c["min_confidence"])
    missing = absent.evaluate(records, facts, T0)  # type: ignore[arg-type]
    expected_wrong, expected_unknown = brute(batch, held, c)
    assert {e.event_id for f in found for e in f.evidence} == expected_wrong
    assert {e.event_id for f in missing for e in f.evidence} == expected_unknown
    assert len({f.subject for f in found}) == len(found)  # one warning per plate


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(held=cities, batch=batches, c=choices)
def test_the_search_finds_exactly_what_the_rules_warn_of(
    tmp_path_factory: pytest.TempPathFactory,
    held: dict[str, tuple[str, str, str, str]],
    batch: list[tuple[str, dict[str, Any] | None]],
    c: dict[str, Any],
) -> None:
    city = city_of(held)
    files = write(_batch(batch), tmp_path_factory.mktemp("forged"), files=2)
    with Engine().session() as engine:
        rows = engine.frame(
            forged_reads_expr(
                engine.sightings(files, columns=PLATE_READ_COLUMNS),
                engine.table_of(registry_table(city.frame(), coarse_types=c["coarse_types"])),
                start=T0,
                end=T0 + timedelta(days=1),
                areas=["A1"],
                fields=c["fields"],
                coarse_types=c["coarse_types"],
                provinces=c["provinces"],
                void_statuses=VOID,
                min_confidence=c["min_confidence"],
            )
        )
    expected_wrong, expected_unknown = brute(batch, held, c)
    assert set(rows.filter("mismatch")["event_id"]) == expected_wrong
    assert set(rows.filter("unregistered")["event_id"]) == expected_unknown
    assert rows.select("subject", "ts", "event_id").equals(
        rows.select("subject", "ts", "event_id").sort("subject", "ts", "event_id")
    )


def test_the_search_answers_per_plate_with_its_registration_and_first_reads(tmp_path: Path) -> None:
    many = [("浙C3F721", {"vehicle_colour": "black"})] * 14 + [("浙C9Q404", None), ("浙C22222", None)]
    files = write(_batch(many), tmp_path, files=1)
    with Engine().session() as engine:
        expr = forged_reads_expr(
            engine.sightings(files, columns=PLATE_READ_COLUMNS),
            engine.table_of(registry_table(CITY.frame(), coarse_types=True)),
            start=T0,
            end=T0 + timedelta(days=1),
            areas=None,
            provinces=["浙"],
            void_statuses=VOID,
        )
        rows = engine.frame(per_plate_expr(expr))
    plates = {p.plate: p for p in forged_plates(rows, CITY.of(rows["subject"].unique().to_list()))}
    assert sorted(plates) == ["浙C22222", "浙C3F721", "浙C9Q404"]
    forged = plates["浙C3F721"]
    assert (forged.mismatch, forged.unregistered, forged.differs, forged.reads) == (
        True,
        False,
        ["vehicle_colour"],
        14,
    )
    assert len(forged.evidence) == 10 and forged.evidence[0].event_id == "e0"
    assert forged.evidence[0].observed["vehicle_colour"] == "black"
    assert forged.registration is not None and forged.registration["body_colour"] == "white"
    assert (plates["浙C9Q404"].unregistered, plates["浙C9Q404"].registration) == (True, None)
    assert plates["浙C22222"].registration["status"] == "scrapped"  # type: ignore[index]


@settings(max_examples=50, deadline=None)
@given(held=cities, asked=st.lists(st.sampled_from([*PLATES, "浙C77777"]), max_size=12))
def test_a_registry_lookup_finds_exactly_the_registered_plates(
    held: dict[str, tuple[str, str, str, str]], asked: list[str]
) -> None:
    found = city_of(held).lookup(pl.Series(asked, dtype=pl.String))
    assert sorted(found["plate"]) == sorted({p for p in asked if p in held})

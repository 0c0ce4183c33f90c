"""The hazmat use cases on SQLite and PostgreSQL: registry, the stock ledger from production through
shipment to use, reconciliation, reach and audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from safecity.core.clock import ManualClock
from safecity.core.context import Context
from safecity.core.errors import AccessDenied
from safecity.tracking.errors import InvalidGeometry
from safecity.tracking.hazmat_errors import HazmatConflict, HazmatError, HazmatNotFound
from safecity.tracking.hazmat_schemas import CountIn, DeliverIn, LoadIn, MovementIn, ProductIn, SiteIn
from tests.tracking.hazmat_city import (
    FAR_OFFICER,
    OFFICER,
    City,
    add_zone,
    build_city,
    shipment_body,
    under_way,
)


@pytest.fixture
def city(session_factory: sessionmaker[Session], clock: ManualClock) -> City:
    return build_city(session_factory, clock)


def _stock(city: City, site: int) -> dict[str, float]:
    return {line.un_number: line.quantity_kg for line in city.stock.stock(OFFICER_BOTH, site, resource="t")}


OFFICER_BOTH = Context(
    actor="officer.both",
    role="community_officer",
    areas=frozenset({"C1", "C2"}),
    permissions=frozenset({"hazmat.read", "hazmat.manage"}),
)


def test_every_kilogram_is_in_the_ledger_from_production_through_shipment_to_use(city: City) -> None:
    shipment = city.shipments.create(
        OFFICER, shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b), resource="t"
    )
    assert shipment.status == "planned"
    assert shipment.quantity_kg == 20_000
    assert shipment.area_id == "C1"
    assert shipment.route["type"] == "LineString"

    loaded = city.shipments.load(OFFICER, shipment.id, LoadIn(quantity=20, unit="t"), resource="t")
    assert (loaded.status, loaded.loaded_kg) == ("loaded", 20_000)
    assert city.shipments.depart(OFFICER, shipment.id, resource="t").status == "in_transit"
    delivered = city.shipments.deliver(FAR_OFFICER, shipment.id, DeliverIn(quantity=19_950), resource="t")
    assert (delivered.status, delivered.delivered_kg, delivered.difference_kg) == ("delivered", 19_950, -50)
    city.stock.record(
        FAR_OFFICER,
        city.site_b,
        MovementIn(un_number="1203", kind="used", quantity=5, unit="t"),
        resource="t",
    )

    assert _stock(city, city.site_a) == {"1203": 10_000}  # 30 t made, 20 t dispatched
    assert _stock(city, city.site_b) == {"1203": 14_950}  # 19.95 t received, 5 t used
    ledger = city.stock.ledger(OFFICER_BOTH, city.site_b, resource="t")
    assert [(m.kind, m.quantity_kg, m.shipment_id) for m in ledger] == [
        ("received", 19_950, shipment.id),
        ("used", -5_000, None),
    ]
    assert city.trail.actions()[-8:] == [
        "hazmat.shipment_create",
        "hazmat.shipment_load",
        "hazmat.shipment_depart",
        "hazmat.shipment_deliver",
        "hazmat.stock_record",
        "hazmat.stock_read",
        "hazmat.stock_read",
        "hazmat.ledger_read",
    ]


def test_litres_are_kept_as_kilograms_through_the_products_density(city: City) -> None:
    line = city.stock.record(
        OFFICER,
        city.site_a,
        MovementIn(un_number="1203", kind="produced", quantity=1000, unit="L"),
        resource="t",
    )
    assert line.quantity_kg == pytest.approx(740.0)
    assert (line.quantity, line.unit) == (1000, "L")


def test_a_product_without_a_density_is_refused_in_litres(city: City) -> None:
    admin = Context(actor="admin", role="administrator", city_wide=True)
    city.registry.add_product(
        admin, ProductIn(un_number="1005", name="氨 ammonia", hazard_class="2.3"), resource="t"
    )
    city.registry.add_site(
        admin,
        SiteIn(name="Gas C", area_id="C1", lat=28.0, lon=120.6, licence="x", permitted_un=["1005"]),
        resource="t",
    )
    with pytest.raises(HazmatError) as refused:
        city.stock.record(
            OFFICER, 3, MovementIn(un_number="1005", kind="produced", quantity=10, unit="L"), resource="t"
        )
    assert refused.value.field == "unit"


def test_nothing_leaves_a_site_that_its_ledger_does_not_hold(city: City) -> None:
    with pytest.raises(HazmatConflict) as refused:
        city.stock.record(
            OFFICER,
            city.site_a,
            MovementIn(un_number="1203", kind="used", quantity=31, unit="t"),
            resource="t",
        )
    assert refused.value.field == "quantity"
    shipment = city.shipments.create(
        OFFICER,
        shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b, quantity=40),
        resource="t",
    )
    with pytest.raises(HazmatConflict):
        city.shipments.load(OFFICER, shipment.id, LoadIn(quantity=40, unit="t"), resource="t")
    assert _stock(city, city.site_a) == {"1203": 30_000}


def test_a_site_takes_in_only_what_its_licence_permits(city: City) -> None:
    admin = Context(actor="admin", role="administrator", city_wide=True)
    city.registry.add_product(
        admin, ProductIn(un_number="1005", name="ammonia", hazard_class="2.3"), resource="t"
    )
    with pytest.raises(HazmatError) as refused:
        city.stock.record(
            OFFICER, city.site_a, MovementIn(un_number="1005", kind="produced", quantity=1), resource="t"
        )
    assert refused.value.field == "un_number"
    with pytest.raises(HazmatError) as refused:
        city.shipments.create(
            OFFICER,
            shipment_body(un_number="1005", consignor_site_id=city.site_a, consignee_site_id=city.site_b),
            resource="t",
        )
    assert refused.value.field == "consignee_site_id"


def test_delivering_twice_is_a_conflict_and_the_stock_is_received_once(city: City) -> None:
    shipment_id = under_way(city)
    city.shipments.deliver(OFFICER, shipment_id, DeliverIn(quantity=20, unit="t"), resource="t")
    with pytest.raises(HazmatConflict) as refused:
        city.shipments.deliver(OFFICER, shipment_id, DeliverIn(quantity=20, unit="t"), resource="t")
    assert refused.value.field == "status"
    assert _stock(city, city.site_b) == {"1203": 20_000}


def test_a_tracker_carries_one_shipment_under_way_at_a_time(city: City) -> None:
    under_way(city, loaded_t=10)
    second = city.shipments.create(
        OFFICER,
        shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b, quantity=5),
        resource="t",
    )
    with pytest.raises(HazmatConflict) as refused:
        city.shipments.load(OFFICER, second.id, LoadIn(quantity=5, unit="t"), resource="t")
    assert refused.value.field == "device_id"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"terminal": "013900000000"}, "terminal"),  # not bound to TRK-1
        ({"device_id": "TRK-404"}, "device_id"),
        (
            {"route": {"type": "LineString", "coordinates": [[120.6, 28.0], [120.6, 28.0]]}},
            "route.coordinates",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[120.6, 28.0], [200.0, 28.0]]}},
            "route.coordinates",
        ),
        ({"depart_until": "2020-01-01T00:00:00Z"}, "depart_until"),
        ({"consignee_site_id": 1}, "consignee_site_id"),
        ({"plate": "ABC1234"}, "plate"),
    ],
)
def test_a_bad_shipment_is_refused_naming_the_field(city: City, over: dict[str, object], field: str) -> None:
    body = shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b).model_dump() | over
    from safecity.tracking.hazmat_schemas import ShipmentIn

    with pytest.raises((HazmatError, InvalidGeometry)) as refused:
        city.shipments.create(OFFICER, ShipmentIn.model_validate(body), resource="t")
    assert refused.value.field == field


def test_reach_is_the_consignors_area_to_plan_and_either_end_to_deliver_and_read(city: City) -> None:
    body = shipment_body(consignor_site_id=city.site_a, consignee_site_id=city.site_b)
    with pytest.raises(AccessDenied):
        city.shipments.create(FAR_OFFICER, body, resource="t")
    shipment_id = under_way(city)
    with pytest.raises(AccessDenied):
        city.shipments.load(FAR_OFFICER, shipment_id, LoadIn(quantity=1), resource="t")
    assert city.shipments.get(FAR_OFFICER, shipment_id, resource="t").id == shipment_id
    assert [s.id for s in city.shipments.shipments(FAR_OFFICER)] == [shipment_id]
    outsider = Context(actor="x", role="community_officer", areas=frozenset({"C9"}))
    with pytest.raises(AccessDenied):
        city.shipments.get(outsider, shipment_id, resource="t")
    assert city.shipments.shipments(outsider) == []
    with pytest.raises(HazmatNotFound):
        city.shipments.get(OFFICER, 999, resource="t")
    with pytest.raises(AccessDenied):
        city.stock.stock(FAR_OFFICER, city.site_a, resource="t")


def test_a_count_is_kept_beside_what_the_ledger_said(city: City) -> None:
    city.clock.advance(timedelta(hours=1))
    count = city.stock.count(
        OFFICER, city.site_a, CountIn(un_number="1203", quantity=29.5, unit="t"), resource="t"
    )
    assert (count.declared_kg, count.ledger_kg, count.difference_kg) == (29_500, 30_000, -500)
    assert city.trail.actions()[-1] == "hazmat.stock_count"


def test_zones_are_validated_and_unique_by_kind_and_name(city: City) -> None:
    ring = [[120.6, 28.0], [120.61, 28.0], [120.61, 28.01], [120.6, 28.01], [120.6, 28.0]]
    add_zone(city, "restricted", "school", "实验小学", "C1", {"type": "Polygon", "coordinates": [ring]})
    with pytest.raises(HazmatConflict):
        add_zone(city, "restricted", "school", "实验小学", "C1", {"type": "Polygon", "coordinates": [ring]})
    bowtie = [[120.6, 28.0], [120.61, 28.01], [120.61, 28.0], [120.6, 28.01], [120.6, 28.0]]
    with pytest.raises(InvalidGeometry) as refused:
        add_zone(city, "restricted", "school", "二小", "C1", {"type": "Polygon", "coordinates": [bowtie]})
    assert refused.value.field == "geometry.ring"
    with pytest.raises(InvalidGeometry) as refused:
        add_zone(
            city,
            "restricted",
            "tunnel",
            "隧道",
            "C1",
            {"type": "Circle", "center": [120.6, 28.0], "radius_m": 50},
        )
    assert refused.value.field == "geometry.type"
    assert [z.name for z in city.registry.zones(OFFICER)] == ["实验小学"]
    assert city.registry.zones(FAR_OFFICER) == []

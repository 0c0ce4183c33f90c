"""The city's vehicle registry (机动车登记): one row per registered plate, as the vehicle office keeps it.

Not the compounds' `vehicles` (residents' plates a gate lets in, places capability): this is the
city's register of every vehicle and its plate, against which the forged-plate rules and search
(`forged.py`) compare what the cameras read. Values are stored in the registry's vocabulary
(`vehicle_vocabulary.py`); a plate is stored normalised (upper case, no spaces or dots).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safecity.store import Base, UtcDateTime


class RegistrationStatus(StrEnum):
    """Where a registration stands."""

    REGISTERED = "registered"  # on the road legally
    STOLEN = "stolen"  # reported stolen; the plate itself is genuine
    SEIZED = "seized"  # held by the police or a court
    SCRAPPED = "scrapped"  # 报废: a plate of a scrapped vehicle on the road is a forged one
    DEREGISTERED = "deregistered"  # 注销: exported, or deregistered by the owner


class VehicleRegistration(Base):
    """A vehicle as the vehicle office registered it, under its plate."""

    __tablename__ = "vehicle_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    plate_colour: Mapped[str] = mapped_column(String(16))
    vehicle_type: Mapped[str] = mapped_column(String(16))
    body_colour: Mapped[str] = mapped_column(String(16))
    make_model: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ = ["RegistrationStatus", "VehicleRegistration"]

"""Registry tables: areas, people, e-bikes, devices and watchlists."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from safecity.store import Base, UtcDateTime

# Entity names of typed references to registry rows (core.finding.Ref): Ref(EBIKE, "12").
EBIKE = "ebike"
PERSON = "person"


class AreaKind(StrEnum):
    """Levels of the area hierarchy: a district holds stations, a station's area holds communities."""

    DISTRICT = "district"
    STATION = "station"
    COMMUNITY = "community"


class DeviceKind(StrEnum):
    """Kinds of field device the registry knows."""

    RFID_STATION = "rfid_station"
    DOOR_CONTROLLER = "door_controller"
    PLATE_CAMERA = "plate_camera"  # a compound's gate camera (道闸): residents' vehicles are known there
    CHECKPOINT_CAMERA = "checkpoint_camera"  # a road checkpoint's plate camera (卡口): vehicle lists
    FACE_CAMERA = "face_camera"
    PHONE_SENSOR = "phone_sensor"  # an electronic fence (电子围栏): phone identities seen near it
    TRACKER = "tracker"
    HANDSET = "handset"
    TRAFFIC_DETECTOR = "traffic_detector"
    ALARM_PANEL = "alarm_panel"
    INTERCOM = "intercom"  # a building's door-entry phone (可视对讲)
    SMS_GATEWAY = "sms_gateway"  # fetches the text messages the platform sends people (registry.messages)


class DeviceStatus(StrEnum):
    """Whether a device may send data."""

    ACTIVE = "active"
    DISABLED = "disabled"


class WatchlistKind(StrEnum):
    """Why a subject is listed."""

    STOLEN_BIKE = "stolen_bike"
    WANTED_PERSON = "wanted_person"  # a person's identity card, matched by its pseudonym (door swipes)
    # Vehicles, by plate: read by checkpoint and road cameras (recognition capability's lists).
    WANTED_VEHICLE = "wanted_vehicle"  # a vehicle used in a crime, or its driver wanted
    STOLEN_VEHICLE = "stolen_vehicle"
    SUSPICIOUS_VEHICLE = "suspicious_vehicle"  # worth a look, not a stop: usually only logged
    FORGED_PLATE = "forged_plate"  # a cloned or forged plate number
    # Faces, by the reference of an enrolled face (recognition capability: descriptor and photos).
    FUGITIVE = "fugitive"  # 在逃人员: a warrant out for them
    MISSING_PERSON = "missing_person"  # 走失人员: someone's family is looking for them


PLATE_LISTS = frozenset(
    {
        WatchlistKind.WANTED_VEHICLE,
        WatchlistKind.STOLEN_VEHICLE,
        WatchlistKind.SUSPICIOUS_VEHICLE,
        WatchlistKind.FORGED_PLATE,
    }
)
FACE_LISTS = frozenset({WatchlistKind.FUGITIVE, WatchlistKind.MISSING_PERSON})


class WatchStatus(StrEnum):
    """An entry matches only while active; the others are kept for the record."""

    ACTIVE = "active"
    RECOVERED = "recovered"
    WITHDRAWN = "withdrawn"


class BikeStatus(StrEnum):
    """An e-bike's registration state."""

    REGISTERED = "registered"
    STOLEN = "stolen"
    DEREGISTERED = "deregistered"


class Area(Base):
    """A district, police station area or community, with its boundary as GeoJSON."""

    __tablename__ = "areas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id"), index=True)
    # The police station answerable for this area (a station is answerable for itself).
    station_id: Mapped[str | None] = mapped_column(String(32), index=True)
    lat: Mapped[float | None] = mapped_column(Float)  # a station's building, an area's centre
    lon: Mapped[float | None] = mapped_column(Float)
    boundary: Mapped[dict[str, object] | None] = mapped_column(JSON)  # GeoJSON Polygon geometry


class Person(Base):
    """A registered person: owner of a bike, tenant, wearer's guardian."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    # Keyed pseudonyms (security/pseudonym.py) under the current key: the lake holds only these,
    # so turning a lake subject back into a person is a registry lookup under a case.
    id_pseudonym: Mapped[str | None] = mapped_column(String(40), index=True)
    phone_pseudonym: Mapped[str | None] = mapped_column(String(40), index=True)
    home_area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EBike(Base):
    """A registered e-bike and the tamper-proof RFID tag fitted to it."""

    __tablename__ = "ebikes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(16), unique=True)
    # None while the owner named at registration has not confirmed it (registry/claims.py).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    frame_number: Mapped[str] = mapped_column(String(32), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    colour: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=BikeStatus.REGISTERED)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    registered_by: Mapped[str] = mapped_column(String(64))

    owner: Mapped[Person | None] = relationship(lazy="joined")


class Device(Base):
    """A field device: where it is, which area it serves, and how it authenticates."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(128))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeviceStatus.ACTIVE)
    # sha256 of a 256-bit random secret; secrets are never stored (see security notes in docs).
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    # The same secret as the MQTT broker checks it (Mosquitto `$7$` PBKDF2-SHA512, salted): made
    # when the secret is issued, since neither the secret nor sha256 of it can give it later.
    broker_hash: Mapped[str | None] = mapped_column(String(160))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TerminalProtocol(StrEnum):
    """Binary tracker protocols whose terminals log in by their own id (ingest/adapters/tcp)."""

    GT06 = "gt06"  # logs in with its IMEI
    JT808 = "jt808"  # registers and authenticates with its terminal phone number


class DeviceTerminal(Base):
    """A tracker terminal as its protocol names it (IMEI, phone number), and the device it is."""

    __tablename__ = "device_terminals"

    protocol: Mapped[str] = mapped_column(String(16), primary_key=True)
    terminal: Mapped[str] = mapped_column(String(32), primary_key=True)  # digits, as the terminal sends
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    # GT06 terminals often send local time without a zone: this turns it into UTC.
    utc_offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # JT/T 808: sha256 of the authentication code issued at registration (never the code itself).
    auth_code_hash: Mapped[str | None] = mapped_column(String(64))
    auth_issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WatchlistEntry(Base):
    """A listed subject (a stolen bike's tag) and the basis for listing it."""

    __tablename__ = "watchlist_entries"
    __table_args__ = (Index("ix_watch_subject_status", "subject_kind", "subject", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_kind: Mapped[str] = mapped_column(String(32))
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    ebike_id: Mapped[int | None] = mapped_column(ForeignKey("ebikes.id"), index=True)
    reported_by: Mapped[str] = mapped_column(String(128))  # who reported (owner, officer)
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    basis: Mapped[str] = mapped_column(Text)  # on what basis: complaint number, statement
    owner: Mapped[str] = mapped_column(String(64))  # the officer or unit answerable for the entry
    owner_station_id: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=WatchStatus.ACTIVE)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    close_note: Mapped[str | None] = mapped_column(Text)


class MessageStatus(StrEnum):
    """Where a text message to a person stands."""

    PENDING = "pending"  # waiting for a gateway
    HANDED_OVER = "handed_over"  # a gateway took it and has not said yet
    SENT = "sent"
    FAILED = "failed"


class PersonMessage(Base):
    """A text message to a person's phone on record, queued for an SMS gateway to send."""

    __tablename__ = "person_messages"
    __table_args__ = (Index("ix_person_messages_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    gateway: Mapped[str | None] = mapped_column(String(64))
    handed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class VerificationStatus(StrEnum):
    """Where a person's confirmation stands."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"  # out of time or out of attempts
    CANCELLED = "cancelled"  # replaced by a newer request for the same thing


class Verification(Base):
    """A claim about a person that waits for the person to confirm it.

    A bike registered to someone already in the registry, or an account asking to be linked to
    a person, is attached only once the person confirms: with the code sent to their phone on
    record, or in person, showing their identity card to an officer who may verify people.
    """

    __tablename__ = "verifications"
    __table_args__ = (Index("ix_verifications_purpose_subject_status", "purpose", "subject", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # bike_owner | account_person
    subject: Mapped[str] = mapped_column(String(64))  # the bike or account id the claim is about
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))  # None: no phone, in person only
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_unit: Mapped[str] = mapped_column(String(128), default="")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=VerificationStatus.PENDING)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    method: Mapped[str | None] = mapped_column(String(16))  # code | in_person

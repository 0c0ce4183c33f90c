"""The words of the vehicle registry and of cameras: plate colours, vehicle types, body colours.

The registry stores each value in one canonical English word; cameras report theirs in their
vendor's words, English or Chinese (`白`, `白色`, `white`). Each field has a table from every
spelling known to its canonical word, and a *comparison key*: what a camera can tell apart.
A camera's classifier confuses a sedan with an SUV and silver with grey, so those share a key;
a spelling that is in no table is not compared at all (tolerant: an unknown word is no evidence).

The rule (`forged.py`, Polars) and the search (the same module, Ibis) both compare keys from
`comparison_keys`, so the live warning and the search over the past agree by construction.
"""

from __future__ import annotations

from typing import Literal

# What a plate_read's attrs may say, and the registry column it is compared with.
ObservedField = Literal["vehicle_type", "vehicle_colour", "plate_colour"]
OBSERVED_FIELDS: tuple[ObservedField, ...] = ("vehicle_type", "vehicle_colour", "plate_colour")
REGISTERED_COLUMN: dict[ObservedField, str] = {
    "vehicle_type": "vehicle_type",
    "vehicle_colour": "body_colour",
    "plate_colour": "plate_colour",
}

# GA 36: blue (small cars), yellow (large vehicles, coaches, motorcycles), green (new energy,
# gradient green for small, yellow-green for large), white (police), black (foreign, HK/Macau).
PLATE_COLOURS: dict[str, str] = {
    "blue": "blue", "蓝": "blue", "蓝色": "blue", "蓝牌": "blue",
    "yellow": "yellow", "黄": "yellow", "黄色": "yellow", "黄牌": "yellow",
    "green": "green", "绿": "green", "绿色": "green", "绿牌": "green", "渐变绿": "green",
    "yellow-green": "green", "yellow_green": "green", "黄绿": "green", "黄绿色": "green",
    "white": "white", "白": "white", "白色": "white", "白牌": "white",
    "black": "black", "黑": "black", "黑色": "black", "黑牌": "black",
}  # fmt: skip

VEHICLE_TYPES: dict[str, str] = {
    "car": "car", "sedan": "car", "saloon": "car", "hatchback": "car", "轿车": "car", "小型轿车": "car",
    "小汽车": "car", "小型汽车": "car",
    "suv": "suv", "越野车": "suv", "运动型多用途车": "suv",
    "mpv": "mpv", "商务车": "mpv", "多用途车": "mpv",
    "van": "van", "minivan": "van", "面包车": "van", "微型面包车": "van",
    "pickup": "pickup", "pick-up": "pickup", "皮卡": "pickup",
    "truck": "truck", "lorry": "truck", "货车": "truck", "卡车": "truck", "厢式货车": "truck",
    "bus": "bus", "coach": "bus", "客车": "bus", "大巴": "bus", "中巴": "bus", "公交车": "bus",
    "motorcycle": "motorcycle", "motorbike": "motorcycle", "摩托车": "motorcycle",
    "tricycle": "tricycle", "三轮车": "tricycle",
}  # fmt: skip

# What a camera tells apart: a sedan, an SUV and an MPV are one class to it; a pickup is a truck.
TYPE_CLASSES: dict[str, str] = {
    "car": "passenger", "suv": "passenger", "mpv": "passenger", "van": "van", "pickup": "truck",
    "truck": "truck", "bus": "bus", "motorcycle": "motorcycle", "tricycle": "tricycle",
}  # fmt: skip

BODY_COLOURS: dict[str, str] = {
    "white": "white", "白": "white", "白色": "white",
    "black": "black", "黑": "black", "黑色": "black",
    "silver": "silver", "银": "silver", "银色": "silver",
    "grey": "grey", "gray": "grey", "灰": "grey", "灰色": "grey",
    "red": "red", "红": "red", "红色": "red",
    "blue": "blue", "蓝": "blue", "蓝色": "blue",
    "yellow": "yellow", "黄": "yellow", "黄色": "yellow",
    "gold": "gold", "金": "gold", "金色": "gold", "香槟": "gold", "香槟色": "gold",
    "green": "green", "绿": "green", "绿色": "green",
    "brown": "brown", "棕": "brown", "棕色": "brown", "咖啡": "brown", "咖啡色": "brown",
    "orange": "orange", "橙": "orange", "橙色": "orange",
    "purple": "purple", "紫": "purple", "紫色": "purple",
    "pink": "pink", "粉": "pink", "粉色": "pink",
}  # fmt: skip

# What a camera tells apart by day and under street lights: silver from grey, gold from yellow, no.
COLOUR_FAMILIES: dict[str, str] = {
    **{c: c for c in set(BODY_COLOURS.values())},
    "silver": "grey",
    "gold": "yellow",
}

VOCABULARY: dict[ObservedField, dict[str, str]] = {
    "vehicle_type": VEHICLE_TYPES,
    "vehicle_colour": BODY_COLOURS,
    "plate_colour": PLATE_COLOURS,
}


# How a plate_read's attrs (compact JSON text) say what the camera saw, as regular expressions
# every engine runs alike (Polars, DuckDB's RE2, Spark's Java): no JSON functions, whose
# results differ by engine, and no backslashes, which Spark's SQL literals would eat. A value
# holding an escaped quote is cut at it, on every engine alike, and is then no known word.
CONFIDENCE_PATTERN = '"confidence" *: *([0-9]+(?:[.][0-9]+)?)'


def observed_pattern(field: ObservedField) -> str:
    """The pattern whose group 1 is the word a read's attrs give for `field` (spaces trimmed)."""
    return f'"{field}" *: *" *([^"]*?) *"'


def canonical(field: ObservedField, value: str | None) -> str | None:
    """The registry's word for a spelling (None: not a word of this field)."""
    if value is None:
        return None
    return VOCABULARY[field].get(value.strip().lower())


def comparison_keys(field: ObservedField, *, coarse_types: bool = True) -> dict[str, str]:
    """Every known spelling (lower case) of a field mapped to what a camera can tell apart."""
    if field == "vehicle_type":
        return {k: TYPE_CLASSES[v] if coarse_types else v for k, v in VEHICLE_TYPES.items()}
    if field == "vehicle_colour":
        return {k: COLOUR_FAMILIES[v] for k, v in BODY_COLOURS.items()}
    return dict(PLATE_COLOURS)


def differs(
    field: ObservedField, observed: str | None, registered: str | None, *, coarse_types: bool = True
) -> bool:
    """Whether an observation contradicts the registration (an unknown word on either side never does)."""
    keys = comparison_keys(field, coarse_types=coarse_types)
    seen = keys.get((observed or "").strip().lower())
    held = keys.get((registered or "").strip().lower())
    return seen is not None and held is not None and seen != held


__all__ = [
    "BODY_COLOURS",
    "CONFIDENCE_PATTERN",
    "COLOUR_FAMILIES",
    "OBSERVED_FIELDS",
    "PLATE_COLOURS",
    "REGISTERED_COLUMN",
    "TYPE_CLASSES",
    "VEHICLE_TYPES",
    "VOCABULARY",
    "ObservedField",
    "canonical",
    "comparison_keys",
    "differs",
    "observed_pattern",
]

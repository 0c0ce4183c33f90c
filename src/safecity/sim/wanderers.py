"""Elderly wearers of the simulated city: daily routines, a GT06 tracker each, planted episodes and
their ground truth.

Each wanderer lives at a home with one round safe zone (`radius_m`) holding a park, a market and a
day centre; on each day (local time) they walk at 3 km/h to two of those places, stay a while, and
walk home. Their tracker sends a fix every `fix_every_min` simulated minutes (a few metres of GNSS
noise, never enough to reach the zone's edge) and a status report with its battery level every
half hour. Some wanderers carry one planted episode (`KINDS`):

* `exit`: walks out of the zone well past its edge, lingers, comes back (wearer_left_safe_zone);
* `missing`: walks away steadily towards the far side of the city and stays out (the same kind);
* `sos`, `fall`: an alarm at the current fix (wearer_sos, wearer_fall);
* `battery`: the battery runs down to level 1 (17 %), a low-battery alarm, then it is charged
  (wearer_low_battery);
* `silent`: the tracker stops sending (wearer_no_fix, from the last fix, when the span runs on
  `NO_FIX_HOURS` after it);
* `jitter`: stands on the zone's edge with fixes alternating just outside (less than the exit
  margin, never two in a row) and well inside: a decoy, no episode, nothing should be raised.

The ground truth of the zone episodes is read off the fixes actually emitted (the first fix more
than `EXIT_MARGIN_M` outside, the first fix back more than `ENTER_MARGIN_M` inside), so it is what
the hysteresis of the rule should decide. Same seed, same wanderers and reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from safecity.core.ids import id_number_check_char
from safecity.sim.city import City
from safecity.sim.terminals import Reading
from safecity.sim.tracked import (
    ALARM,
    FIX,
    LOCAL_HOURS,
    STATUS,
    Emission,
    Episode,
    Plane,
    Track,
    distance,
    heading,
)

KINDS = ("exit", "missing", "sos", "fall", "battery", "silent", "jitter")
WALK_MS = 3.0 / 3.6  # metres per second
EXIT_MARGIN_M, ENTER_MARGIN_M = 50.0, 20.0  # the packaged wearer_left_safe_zone's margins
NO_FIX_HOURS = 6  # the packaged wearer_no_fix's silence
NOISE_M = 4.0
STATUS_EVERY = timedelta(minutes=30)
PLACES = ("park", "market", "day centre")
SURNAMES = "陈王李张刘林黄吴周郑"
GIVEN = ("阿婆", "阿公", "秀英", "桂英", "建国", "德明", "玉兰", "志强", "金花", "长根")


@dataclass(frozen=True, slots=True)
class Wanderer:
    """One elderly wearer, their tracker, guardian and safe zone, and the episode planted on them."""

    n: int
    device_id: str
    imei: str
    name: str
    id_number: str
    guardian_name: str
    guardian_id_number: str
    guardian_phone: str
    home: tuple[float, float]  # lat, lon
    radius_m: float
    places: tuple[tuple[str, float, float], ...]  # name, lat, lon
    episode: str  # one of KINDS, or "" for none
    area_id: str | None = None


@dataclass(slots=True)
class WandererPlan:
    """The wanderers of one simulated span: who they are, what their trackers send, what was planted."""

    wanderers: list[Wanderer]
    emissions: list[Emission]  # in time order
    episodes: list[Episode]
    start: datetime
    end: datetime
    decoys: list[Episode] = field(default_factory=list)  # jitter on the edge: should raise nothing


def id_number(birth_year: int, n: int) -> str:
    """A valid GB 11643 number of Lucheng (330302), distinct per n."""
    first17 = f"330302{birth_year}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + id_number_check_char(first17)


def community_boxes(city: City) -> list[tuple[str, float, float, float, float]]:
    """Communities as (id, x0, y0, x1, y1) in metres (their boundaries are whole blocks)."""
    grid = city.grid
    block = grid.major_units * grid.unit_m
    areas = city.table("areas").filter(kind="community")
    return [
        (r["id"], r["bx0"] * block, r["by0"] * block, r["bx1"] * block, r["by1"] * block)
        for r in areas.iter_rows(named=True)
    ]


def area_at(areas: list[tuple[str, float, float, float, float]], x: float, y: float) -> str | None:
    """The community holding a point of the plane."""
    for area_id, x0, y0, x1, y1 in areas:
        if x0 <= x < x1 and y0 <= y < y1:
            return area_id
    return None


def _routine(
    rng: np.random.Generator,
    home: tuple[float, float],
    places: list[tuple[float, float]],
    start: datetime,
    span_s: float,
) -> Track:
    """Home at night; each local day two places visited between about 08:00 and 16:00."""
    track = Track()
    track.add(0.0, home)
    local = start + timedelta(hours=LOCAL_HOURS)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=LOCAL_HOURS)
    day = (midnight - start).total_seconds()
    while day < span_s:
        t = day + 8 * 3600 + rng.uniform(0, 90 * 60)
        for i in rng.choice(len(places), size=2, replace=False):
            t = track.walk(t, places[int(i)], WALK_MS) + rng.uniform(45 * 60, 120 * 60)
        track.walk(t, home, WALK_MS)
        day += 86400
    track.add(max(span_s, track.t[-1]) + 3600, home)
    return track


def _clamp(plane: Plane, xy: tuple[float, float], margin: float = 60.0) -> tuple[float, float]:
    return (min(max(xy[0], margin), plane.width_m - margin), min(max(xy[1], margin), plane.height_m - margin))


def plan_wanderers(
    city: City,
    *,
    seed: int,
    start: datetime,
    hours: float,
    count: int,
    plants: int = 1,
    fix_every_min: float = 5.0,
    episode_at_h: float | None = None,
    salt: int = 0,
) -> WandererPlan:
    """`count` wanderers over `hours` from `start`; `plants` of each episode kind (the first ones),
    each at a random time, or `episode_at_h` hours from the start (a short test's span). The
    wanderers depend on `seed` alone; their days and episodes on `salt` too (the demo's next plan)."""
    plane = Plane(city.grid)
    areas = community_boxes(city)
    span_s = hours * 3600
    end = start + timedelta(hours=hours)
    out = WandererPlan([], [], [], start, end)
    for n in range(count):
        rng = np.random.default_rng([seed, 4100, n])
        kind = KINDS[n % len(KINDS)] if n < plants * len(KINDS) else ""
        radius = float(rng.uniform(400, 600))
        margin = min(radius + 400, plane.width_m / 2 - 50, plane.height_m / 2 - 50)
        home = (
            float(rng.uniform(margin, plane.width_m - margin)),
            float(rng.uniform(margin, plane.height_m - margin)),
        )
        places = []
        for _ in PLACES:
            angle, r = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 0.6) * radius
            places.append(_clamp(plane, (home[0] + r * math.sin(angle), home[1] + r * math.cos(angle))))
        who = _person(rng, n, plane, home, radius, places, kind, areas)
        rng = np.random.default_rng([seed, 4100, n, salt])
        track = _routine(rng, home, places, start, span_s)
        out.wanderers.append(who)
        at_s = float(rng.uniform(1 * 3600, max(1.5 * 3600, span_s - 3 * 3600)))
        if episode_at_h is not None:
            at_s = episode_at_h * 3600
        _live(out, who, track, rng, plane, home, radius, span_s, fix_every_min, at_s)
    out.emissions.sort(key=lambda e: (e.ts, e.terminal))
    return out


def _person(
    rng: np.random.Generator,
    n: int,
    plane: Plane,
    home: tuple[float, float],
    radius: float,
    places: list[tuple[float, float]],
    kind: str,
    areas: list[tuple[str, float, float, float, float]],
) -> Wanderer:
    surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
    return Wanderer(
        n=n,
        device_id=f"TRK-W-{n:04d}",
        imei=f"86471700{n:07d}",
        name=surname + GIVEN[int(rng.integers(len(GIVEN)))],
        id_number=id_number(1938 + n % 12, n),
        guardian_name=surname + "杰",
        guardian_id_number=id_number(1968 + n % 12, 500 + n),
        guardian_phone=f"139{n:08d}",
        home=(plane.lat(home[1]), plane.lon(home[0])),
        radius_m=round(radius, 1),
        places=tuple(
            (name, plane.lat(p[1]), plane.lon(p[0])) for name, p in zip(PLACES, places, strict=True)
        ),
        episode=kind,
        area_id=area_at(areas, *home),
    )


def _live(
    out: WandererPlan,
    who: Wanderer,
    track: Track,
    rng: np.random.Generator,
    plane: Plane,
    home: tuple[float, float],
    radius: float,
    span_s: float,
    fix_every_min: float,
    at_s: float,
) -> None:
    """The wanderer's reports over the span, with their episode spliced in at `at_s`, and its truth."""
    every = fix_every_min * 60
    kind, ref = who.episode, (f"device:{who.device_id}",)
    silent_from = at_s if kind == "silent" else math.inf
    jitter: tuple[float, float] = (math.inf, math.inf)
    if kind in ("exit", "missing"):
        track.cut(at_s)
        angle = rng.uniform(0, 2 * math.pi)
        if kind == "exit":
            away = _clamp(
                plane,
                (home[0] + (radius + 250) * math.sin(angle), home[1] + (radius + 250) * math.cos(angle)),
            )
            back = track.walk(track.walk(at_s, away, WALK_MS) + 20 * 60, home, WALK_MS)
            track.add(back + span_s + 3600, home)
        else:  # towards the farthest corner, then stays there
            corner = max(
                ((x, y) for x in (0, plane.width_m) for y in (0, plane.height_m)),
                key=lambda c: distance(c, home),
            )
            track.walk(at_s, _clamp(plane, corner, 150.0), WALK_MS)
            track.add(span_s + 3600, track.at(span_s + 3600))
    if kind == "jitter":  # on the edge for 40 minutes
        track.cut(at_s)
        angle = rng.uniform(0, 2 * math.pi)
        edge = (home[0] + radius * math.sin(angle), home[1] + radius * math.cos(angle))
        arrive = track.walk(at_s, edge, WALK_MS)
        jitter = (arrive, arrive + 40 * 60)
        track.walk(jitter[1], home, WALK_MS)
        track.add(jitter[1] + span_s + 3600, home)
    alarm_at = at_s if kind in ("sos", "fall") else math.inf
    battery_from = at_s if kind == "battery" else math.inf
    offset = float(rng.uniform(0, every))
    t, outside_since, flip, last_fix = offset, None, False, None
    next_status = offset
    while t < span_s and t < silent_from:
        x, y = track.at(t)
        if jitter[0] <= t <= jitter[1]:
            flip = not flip  # alternately 25 m outside and 35 m inside: never an exit
            d = radius + (25.0 if flip else -35.0)
            a = math.atan2(x - home[0], y - home[1])
            x, y = home[0] + d * math.sin(a), home[1] + d * math.cos(a)
        else:
            x, y = (
                x + float(np.clip(rng.normal(0, NOISE_M), -10, 10)),
                y + float(np.clip(rng.normal(0, NOISE_M), -10, 10)),
            )
        x, y = _clamp(plane, (x, y), 20.0)
        ts = out.start + timedelta(seconds=round(t))
        nxt = track.at(t + 60)
        speed = distance((x, y), nxt) * 3.6 / 60
        reading = Reading(
            ts=ts, lat=plane.lat(y), lon=plane.lon(x), speed_kmh=round(speed, 1), course=heading((x, y), nxt)
        )
        out_m = distance((x, y), home) - radius
        if outside_since is None and out_m > EXIT_MARGIN_M and kind in ("exit", "missing"):
            outside_since = ts
        elif outside_since is not None and out_m < -ENTER_MARGIN_M:
            out.episodes.append(Episode("wearer_left_safe_zone", ref, outside_since, ts, kind))
            outside_since = None
        if t >= alarm_at:
            out.emissions.append(Emission(who.imei, ALARM, reading, alarm="sos" if kind == "sos" else "fall"))
            out.episodes.append(Episode(f"wearer_{kind}", ref, ts, ts, kind))
            alarm_at = math.inf
        else:
            out.emissions.append(Emission(who.imei, FIX, reading))
        last_fix = ts
        if t >= next_status:
            _status(out, who, reading, t - battery_from, ref)
            next_status = t + STATUS_EVERY.total_seconds()
        t += every
    if outside_since is not None:
        out.episodes.append(Episode("wearer_left_safe_zone", ref, outside_since, out.end, kind))
    # The warning is due NO_FIX_HOURS later; its evidence is the last fix, where the silence began.
    if kind == "silent" and last_fix is not None and last_fix + timedelta(hours=NO_FIX_HOURS) < out.end:
        out.episodes.append(Episode("wearer_no_fix", ref, last_fix, out.end, kind))
    if jitter[0] < math.inf:
        out.decoys.append(
            Episode(
                "wearer_left_safe_zone",
                ref,
                out.start + timedelta(seconds=jitter[0]),
                out.start + timedelta(seconds=jitter[1]),
                "jitter",
            )
        )


BATTERY_STEP_S = 40 * 60  # a dying battery loses a level every 40 minutes
LOW_HOLD_S = 60 * 60  # then sits at level 1 an hour before it is charged


def battery_level(since_s: float) -> int:
    """The level (0-6) of a dying battery `since_s` after it began to run down (6 before)."""
    if since_s < 0:
        return 6
    down = 5 * BATTERY_STEP_S
    if since_s < down:
        return 6 - int(since_s // BATTERY_STEP_S)
    return 1 if since_s < down + LOW_HOLD_S else 6


def _status(out: WandererPlan, who: Wanderer, reading: Reading, since_s: float, ref: tuple[str, ...]) -> None:
    """A status report; a dying battery's first report at level 1 comes with a low-battery alarm."""
    level = battery_level(since_s)
    out.emissions.append(Emission(who.imei, STATUS, reading, battery_level=level))
    if level == 1 and not any(e.tag == "battery" and e.refs == ref for e in out.episodes):
        out.emissions.append(Emission(who.imei, ALARM, reading, alarm="low_battery"))
        low_end = reading.ts + timedelta(seconds=5 * BATTERY_STEP_S + LOW_HOLD_S - since_s)
        out.episodes.append(Episode("wearer_low_battery", ref, reading.ts, min(low_end, out.end), "battery"))


__all__ = [
    "KINDS",
    "Wanderer",
    "WandererPlan",
    "area_at",
    "community_boxes",
    "battery_level",
    "id_number",
    "plan_wanderers",
]

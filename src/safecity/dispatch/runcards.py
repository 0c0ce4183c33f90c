"""Run cards: which departments an incident type calls on, with what task and how soon.

One action turns a card into orders (派单): the lines that need a unit get the best available
unit of their department (by road ETA: `recommend`), the others go to the department's desk.
The defaults follow the Shaoxing practice the issue describes (a burglary in progress: the
nearest patrol, criminal and technical investigation, an intelligence check); an agency edits
them in the dispatch settings.
"""

from __future__ import annotations

from dataclasses import dataclass


class Department:
    PATROL = "patrol"
    CRIMINAL = "criminal_investigation"
    TECHNICAL = "technical_investigation"
    INTELLIGENCE = "intelligence"
    TRAFFIC = "traffic"
    COMMUNITY = "community"
    ANTI_FRAUD = "anti_fraud"
    AIR = "air"  # drones


DEPARTMENTS = frozenset(v for k, v in vars(Department).items() if not k.startswith("_"))


@dataclass(frozen=True, slots=True)
class CardLine:
    """One order of a run card."""

    department: str
    task: str
    deadline_min: float
    unit: bool = False  # a unit goes (else the department's desk takes it)


@dataclass(frozen=True, slots=True)
class RunCard:
    """What one type of incident calls for."""

    kind: str
    label: str  # as the console shows it
    priority: int  # the default; the call taker may raise or lower it
    lines: tuple[CardLine, ...]


D = Department
CARDS: dict[str, RunCard] = {
    card.kind: card
    for card in (
        RunCard(
            "burglary_in_progress",
            "入室盗窃（正在发生）",
            1,
            (
                CardLine(D.PATROL, "最近巡逻力量赶赴现场，控制嫌疑人", 5, unit=True),
                CardLine(D.CRIMINAL, "刑侦立案，串并同类案件", 30),
                CardLine(D.TECHNICAL, "技侦调取周边视频与通信线索", 30),
                CardLine(D.INTELLIGENCE, "情报研判嫌疑人轨迹", 10),
            ),
        ),
        RunCard(
            "traffic_accident",
            "交通事故",
            2,
            (
                CardLine(D.TRAFFIC, "交警赶赴现场处置、疏导交通", 8, unit=True),
                CardLine(D.AIR, "无人机先期查看现场", 5, unit=True),
            ),
        ),
        RunCard(
            "fraud_warning",
            "电信诈骗预警",
            1,
            (
                CardLine(D.PATROL, "上门劝阻，核实是否已转账", 10, unit=True),
                CardLine(D.ANTI_FRAUD, "反诈中心止付、冻结", 5),
            ),
        ),
        RunCard(
            "fight",
            "打架斗殴",
            1,
            (
                CardLine(D.PATROL, "赶赴现场制止、救助伤员", 5, unit=True),
                CardLine(D.CRIMINAL, "视伤情决定是否立案", 60),
            ),
        ),
        RunCard(
            "missing_person",
            "人员走失",
            2,
            (
                CardLine(D.PATROL, "按最后位置和搜索范围寻找", 10, unit=True),
                CardLine(D.COMMUNITY, "社区民警联系家属、发动群众", 15),
                CardLine(D.INTELLIGENCE, "调取视频与定位轨迹", 15),
            ),
        ),
        RunCard("theft", "盗窃", 3, (CardLine(D.PATROL, "到场了解情况、勘查", 15, unit=True),)),
        RunCard("other", "其他警情", 3, (CardLine(D.PATROL, "到场处置", 15, unit=True),)),
    )
}


def card_for(kind: str) -> RunCard:
    """The run card of an incident type (unknown types: none; the caller refuses them)."""
    return CARDS[kind]


__all__ = ["CARDS", "DEPARTMENTS", "CardLine", "Department", "RunCard", "card_for"]

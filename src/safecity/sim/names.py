"""Name pools for the synthetic city: districts, police stations, communities, roads, people, bikes.

Districts carry Wenzhou's real names and GB/T 2260 address codes (the first six digits of a
resident's identity number). Other place names are real Wenzhou street names first, then
plausible two-character combinations, always unique within a city.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

# Wenzhou's county-level divisions and their GB/T 2260 codes (prefix 3303).
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("鹿城区", "330302"),
    ("龙湾区", "330303"),
    ("瓯海区", "330304"),
    ("洞头区", "330305"),
    ("永嘉县", "330324"),
    ("平阳县", "330326"),
    ("苍南县", "330327"),
    ("文成县", "330328"),
    ("泰顺县", "330329"),
    ("瑞安市", "330381"),
    ("乐清市", "330382"),
    ("龙港市", "330383"),
)
ADDRESS_CODES: tuple[str, ...] = tuple(code for _, code in DISTRICTS)

_PLACES = (  # noqa: SIM905 - a word list reads better as text
    "五马 松台 南郊 广化 蒲鞋市 大南 南汇 七都 滨江 双屿 仰义 藤桥 山福 永中 海城 "
    "状元 瑶溪 沙城 天河 星海 娄桥 新桥 景山 梧田 南白象 茶山 三垟 潘桥 郭溪 瞿溪 "
    "丽岙 仙岩 泽雅 蒲州 上戍 黄龙 水心 翠微 江滨 府前 信河 百里 黎明 锦绣 划龙桥 "
    "汤家桥 惠民 望江 勤奋 龙霞 绣山 会昌"
).split()
_ROADS = (  # noqa: SIM905 - a word list reads better as text
    "人民 解放 府前 信河 飞霞 黎明 学院 锦绣 车站 温州 瓯江 江滨 市府 新城 会昌 "
    "将军 东游 龙腾 发展 望江 勤奋 蒲州 惠民 梧慈 南塘 横渎 翠微 松台 仓桥 公园 "
    "胜利 康乐 百里 绣山 划龙 汤家 机场 永强 金海 瓯海 娄桥 上江 下吕 环城 雪山 "
    "广场 体育 矮凳 鹿城 蝉街 大同 兴文 县前"
).split()
_FIRST = "东西南北上下新金银玉龙凤华锦翠明光瑞安平乐永兴隆福寿康宁和泰丰盛江海湖溪云霞松竹梅兰"
_SECOND = "湖港塘桥浦岙垟溪岭山村街坊湾洲亭园苑庄门河埠田源林阳"

SURNAMES = "陈林黄王李张周吴郑徐金潘胡刘杨朱叶蔡池施谢郭何孙赵卢余项姜戴苏钱章邱"
# Wenzhou's surname frequencies are led by Chen, Lin, Huang, Wang; the tail is flatter.
_SURNAME_WEIGHTS = np.array(
    [12, 8, 6, 6, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1],
    dtype=np.float64,
)
GIVEN_MALE = "伟强磊军勇杰涛斌超明华建国俊峰鹏辉浩宇晨阳文博志海林波东平力"
GIVEN_FEMALE = "丽芳娟敏静燕艳玲婷雪霞红梅琳颖佳欣怡晶萍慧倩蓉莉洁婧璐雯琴露"

BIKE_MODELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("雅迪", "YD", ("冠能DE3", "欧睿", "摩登", "酷奇")),
    ("爱玛", "AM", ("麦", "小蜜豆", "小帅", "引擎MAX")),
    ("台铃", "TL", ("狮王", "超能", "星愿")),
    ("绿源", "LY", ("MODA2", "K5", "S70")),
    ("新日", "XR", ("XC2", "小白龙")),
    ("小牛", "NQ", ("NQi", "UQi", "MQiL")),
    ("九号", "NB", ("C30", "E80C")),
    ("立马", "LM", ("小魔方", "星耀")),
    ("小刀", "XD", ("长征", "战神")),
)
COLOURS = ("白色", "黑色", "红色", "蓝色", "银色", "灰色", "粉色", "绿色", "黄色")
_COLOUR_WEIGHTS = np.array([22, 20, 10, 10, 12, 10, 7, 5, 4], dtype=np.float64)


def district_names(count: int) -> list[tuple[str, str]]:
    """(name, address code) of `count` districts; beyond Wenzhou's twelve, numbered new ones."""
    out = list(DISTRICTS[:count])
    for i in range(len(out), count):
        _, code = DISTRICTS[i % len(DISTRICTS)]
        out.append((f"新区{i + 1}", code))
    return out


def _unique_names(real: list[str], count: int, rng: np.random.Generator, exclude: set[str]) -> list[str]:
    """`count` unique names: the real ones in random order, then two-character combinations."""
    pool = [name for name in real if name not in exclude]
    picked = [pool[i] for i in rng.permutation(len(pool))][:count]
    combos = [a + b for a in _FIRST for b in _SECOND]
    seen = set(picked) | exclude
    for i in rng.permutation(len(combos)):
        if len(picked) >= count:
            break
        if combos[i] not in seen:
            seen.add(combos[i])
            picked.append(combos[i])
    if len(picked) < count:
        raise ValueError(f"cannot make {count} unique place names")
    return picked


def place_names(count: int, rng: np.random.Generator, exclude: set[str] | None = None) -> list[str]:
    """Unique place names for police stations and communities."""
    return _unique_names(list(_PLACES), count, rng, exclude or set())


def road_names(count: int, rng: np.random.Generator) -> list[str]:
    """Unique road base names (the caller adds 路/街/大道)."""
    return _unique_names(list(_ROADS), count, rng, set())


def pick(values: Sequence[str], idx: npt.NDArray[np.int64]) -> pl.Series:
    """values[idx] as a string Series, gathered in Rust rather than element by element."""
    return pl.Series(list(values), dtype=pl.String).gather(idx)


def person_names(male: npt.NDArray[np.bool_], rng: np.random.Generator) -> pl.Series:
    """Chinese names for people of the given sex: a surname and one or two given characters."""
    n = len(male)
    surname = pick(SURNAMES, rng.choice(len(SURNAMES), n, p=_SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum()))
    pool = GIVEN_MALE + GIVEN_FEMALE  # female characters follow the male ones
    shift = np.where(male, 0, len(GIVEN_MALE))
    first = pick(pool, rng.integers(0, len(GIVEN_MALE), n) + shift)
    second = pick(pool, rng.integers(0, len(GIVEN_FEMALE), n) + shift)
    two_chars = pl.Series(rng.random(n) < 0.7)
    second = pl.select(pl.when(pl.lit(two_chars)).then(pl.lit(second)).otherwise(pl.lit(""))).to_series()
    return pl.select(pl.concat_str([pl.lit(surname), pl.lit(first), pl.lit(second)])).to_series()


def bike_models(count: int, rng: np.random.Generator) -> tuple[pl.Series, pl.Series, pl.Series]:
    """(model, brand code, colour) for `count` bikes."""
    labels = [f"{brand} {model}" for brand, _, models in BIKE_MODELS for model in models]
    codes = [code for _, code, models in BIKE_MODELS for _ in models]
    which = rng.integers(0, len(labels), count)
    colour = rng.choice(len(COLOURS), count, p=_COLOUR_WEIGHTS / _COLOUR_WEIGHTS.sum())
    return pick(labels, which), pick(codes, which), pick(COLOURS, colour)

"""The agent's deterministic domain tools: mold risk, dew point, material care, drying plans, diagnosis.

Every tool is pure computation (no shell, files or network) over a pydantic argument model whose
ranges reject absurd inputs. Tools never raise on bad input: :func:`run_tool` and the tool functions
return a :class:`ToolResult` with ``error`` set and a message that says what to fix. Each result
carries a one- or two-sentence English and Traditional-Chinese summary that the agent cites like a
knowledge passage ("Tool mold_risk: ...").

The thresholds are the knowledge base's agreed numbers: RH above ~60-70% favours mold, sustained
70-90% RH is high risk, store at or below 50-60% RH, most shoe molds grow best at 20-30°C, cold slows
but does not kill mold, and visible growth can appear within 24-48 hours of staying wet.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from langchain_core.tools import StructuredTool

TOOL_NAMES: tuple[str, ...] = ("mold_risk", "dew_point", "material_care", "drying_plan", "diagnose_symptoms")

MAX_HOURS = 24 * 365
RiskLevel = Literal["low", "moderate", "high", "very_high"]
_LEVELS: tuple[RiskLevel, ...] = ("low", "moderate", "high", "very_high")
_LEVEL_ZH = {"low": "低", "moderate": "中等", "high": "高", "very_high": "極高"}


@dataclass
class ToolResult:
    """What one tool call produced: structured data plus citable summaries, or an error."""

    name: str
    args: dict
    result: dict
    text_en: str
    text_zh: str
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self, lang: str) -> str:
        """The summary in ``lang`` ("zh" or "en")."""
        return self.text_zh if lang == "zh" else self.text_en


# --------------------------------------------------------------------------------------------
# Materials: canonical keys, bilingual names and the aliases users type (en, Traditional and
# Simplified Chinese).
# --------------------------------------------------------------------------------------------

MATERIALS: dict[str, dict[str, str]] = {
    "leather": {"en": "leather", "zh": "皮革"},
    "suede": {"en": "suede/nubuck", "zh": "麂皮/反毛皮"},
    "canvas": {"en": "canvas/cotton", "zh": "帆布/棉布"},
    "knit": {"en": "knit/mesh", "zh": "針織/網布"},
    "rubber": {"en": "rubber/EVA", "zh": "橡膠/EVA"},
    "synthetic": {"en": "synthetic leather/PU", "zh": "合成皮/PU"},
    "wool": {"en": "wool/felt", "zh": "羊毛/毛氈"},
}

MATERIAL_ALIASES: dict[str, tuple[str, ...]] = {
    "leather": (
        "leather", "full-grain leather", "full grain leather", "patent leather", "smooth leather",
        "calfskin", "cowhide", "nappa", "genuine leather", "real leather",
        "皮革", "真皮", "皮鞋", "牛皮", "小牛皮", "漆皮", "光面皮",
    ),
    "suede": (
        "suede", "nubuck", "nubuk", "suede leather",
        "麂皮", "反毛皮", "翻毛皮", "磨砂皮", "絨面皮", "绒面皮", "絨面", "绒面", "麂皮絨", "麂皮绒",
    ),
    "canvas": (
        "canvas", "cotton", "cloth", "fabric",
        "帆布", "棉布", "布鞋", "棉質", "棉质",
    ),
    "knit": (
        "knit", "knitted", "mesh", "flyknit", "primeknit", "woven upper",
        "針織", "针织", "網布", "网布", "網面", "网面", "網眼", "网眼", "飛織", "飞织",
    ),
    "rubber": (
        "rubber", "eva", "eva foam", "foam", "rain boots", "rainboots", "wellies", "wellingtons", "gumboots", "gumboot", "crocs",
        "橡膠", "橡胶", "雨鞋", "雨靴", "膠鞋", "胶鞋",
    ),
    "synthetic": (
        "synthetic", "synthetics", "synthetic leather", "pu", "pu leather", "faux leather", "vegan leather",
        "pleather", "microfiber", "microfibre", "polyurethane", "artificial leather",
        "合成皮", "人造皮", "人工皮", "pu皮", "超纖皮", "超纤皮",
    ),
    # "felt" alone is a verb far more often ("I felt dizzy"); only its shoe phrases count.
    "wool": (
        "wool", "merino", "sheepskin", "shearling", "felted", "felt insoles", "felt insole", "felt slippers",
        "felt boots", "felt lining", "felt-lined", "wool-lined",
        "羊毛", "毛氈", "毛毡", "羊毛氈", "羊毛毡", "美麗諾", "美丽诺", "羊皮毛",
    ),
}

# Longest alias first, so "synthetic leather" wins over "leather" and "麂皮絨" over "麂皮".
_ALIAS_TABLE: tuple[tuple[str, str], ...] = tuple(
    sorted(
        ((alias, key) for key, aliases in MATERIAL_ALIASES.items() for alias in aliases),
        key=lambda pair: -len(pair[0]),
    )
)


def _norm(text: str) -> str:
    """NFKC (full-width digits, ％ and ℃ become ASCII), lower case, trimmed."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _alias_regex(alias: str) -> str:
    # ASCII aliases match whole words ("pu" must not match "pump"); CJK aliases match as substrings.
    if alias.isascii():
        return r"(?<![a-z])" + re.escape(alias) + r"(?![a-z])"
    return re.escape(alias)


# One alternation, longest alias first: scanning left to right, "麂皮鞋" is read as 麂皮 (suede) and
# not as 皮鞋 (leather), and "synthetic leather" as one material.
_ALIAS_REGEX = re.compile("|".join(f"({_alias_regex(alias)})" for alias, _key in _ALIAS_TABLE))


# What a material names when socks follow it ("wool socks", 棉襪) is the socks', not the shoe's.
_SOCKS_AFTER = re.compile(r"\s*(?:socks?(?![a-z])|襪|袜)")


def find_materials(text: str) -> list[str]:
    """Canonical material keys mentioned in ``text``, in order of first mention, each once."""
    ordered: list[str] = []
    normalized = _norm(text)
    for match in _ALIAS_REGEX.finditer(normalized):
        if _SOCKS_AFTER.match(normalized, match.end()):
            continue
        key = _ALIAS_TABLE[match.lastindex - 1][1]
        if key not in ordered:
            ordered.append(key)
    return ordered


def normalize_material(material: str) -> str | None:
    """The canonical key for a material name in en or zh ("真皮" -> "leather"), or None if unknown."""
    text = _norm(material)
    if text in MATERIALS:
        return text
    for alias, key in _ALIAS_TABLE:
        if text == alias:
            return key
    found = find_materials(text)
    return found[0] if found else None


def _supported_materials() -> str:
    return ", ".join(f"{v['en']} ({v['zh']})" for v in MATERIALS.values())


# --------------------------------------------------------------------------------------------
# Argument models
# --------------------------------------------------------------------------------------------


class _Args(BaseModel):
    # Extra keys from a chatty model are ignored rather than failing the whole call.
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        # pydantic would read true/false as 1/0 (a 1 °C closet); a measurement must be a number.
        if isinstance(value, bool):
            raise ValueError("must be a number or text, not true/false")
        return value


class MoldRiskArgs(_Args):
    temperature_c: float | None = Field(
        default=None, ge=-50, le=70, description="Air temperature in °C (-50 to 70); leave out when not given."
    )
    relative_humidity: float = Field(ge=0, le=100, description="Relative humidity in percent (0 to 100).")
    hours_damp: float = Field(
        default=0, ge=0, le=MAX_HOURS, description="How many hours the shoes have stayed damp or wet (0 if dry)."
    )


class DewPointArgs(_Args):
    temperature_c: float = Field(ge=-50, le=70, description="Air temperature in °C (-50 to 70).")
    relative_humidity: float = Field(gt=0, le=100, description="Relative humidity in percent (above 0, up to 100).")


class MaterialArgs(_Args):
    material: str = Field(
        min_length=1,
        max_length=80,
        description="Shoe material in English or Chinese: leather, suede/nubuck, canvas/cotton, knit/mesh, "
        "rubber/EVA, synthetic/PU, wool/felt (皮革, 麂皮, 帆布, 網布, 橡膠, 合成皮, 羊毛...).",
    )

    @field_validator("material")
    @classmethod
    def _known(cls, value: str) -> str:
        key = normalize_material(value)
        if key is None:
            raise ValueError(f"unknown material {value!r}; supported: {_supported_materials()}")
        return key


_WETNESS_ALIASES = {
    "damp": ("damp", "moist", "slightly wet", "a bit wet", "humid", "潮濕", "潮湿", "微濕", "微湿", "有點濕", "有点湿", "潮"),
    "wet": ("wet", "rained on", "濕", "湿", "淋濕", "淋湿", "弄濕", "弄湿"),
    "soaked": (
        "soaked", "soaking", "drenched", "waterlogged", "saturated", "submerged", "flooded",
        "濕透", "湿透", "泡水", "全濕", "全湿", "浸濕", "浸湿", "泡濕", "泡湿",
    ),
}


class DryingArgs(MaterialArgs):
    wetness: Literal["damp", "wet", "soaked"] = Field(
        default="wet", description="How wet the shoes are: damp, wet or soaked."
    )

    @field_validator("wetness", mode="before")
    @classmethod
    def _wetness(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = _norm(value)
        for level in ("soaked", "damp", "wet"):  # "濕透" must not be read as plain "濕"
            if text == level or text in _WETNESS_ALIASES[level]:
                return level
        return text


class DiagnoseArgs(_Args):
    colour: str = Field(default="", max_length=200, description="Colour of the marks, e.g. white, green, black, 白色.")
    texture: str = Field(
        default="", max_length=200, description="Texture, e.g. fuzzy, powdery, crusty, waxy film, 毛茸茸, 粉狀."
    )
    smell: str = Field(default="", max_length=200, description="Smell, e.g. musty, none, sour, 霉味, 沒有味道.")
    location: str = Field(
        default="", max_length=200, description="Where on the shoe, e.g. insole, along the water line, 鞋墊, 鞋面."
    )

    @model_validator(mode="after")
    def _something_described(self) -> DiagnoseArgs:
        if not any(s.strip() for s in (self.colour, self.texture, self.smell, self.location)):
            raise ValueError("describe at least one of colour, texture, smell or location")
        return self


# --------------------------------------------------------------------------------------------
# mold_risk
# --------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:g}"


def _mold_risk(args: MoldRiskArgs) -> tuple[dict, str, str]:
    t, rh, hours = args.temperature_c, args.relative_humidity, args.hours_damp
    reasons_en: list[str] = []
    reasons_zh: list[str] = []

    if rh > 90:
        level = 3
        reasons_en.append(f"{_fmt(rh)}% RH is above 90%, near saturation: well beyond the 70-90% RH high-risk band")
        reasons_zh.append(f"相對濕度 {_fmt(rh)}% 超過 90%，接近飽和，遠高於 70-90% 的高風險區間")
    elif rh >= 70:
        level = 2
        reasons_en.append(f"{_fmt(rh)}% RH is in the 70-90% RH band where sustained humidity is high risk")
        reasons_zh.append(f"相對濕度 {_fmt(rh)}% 落在 70-90% 區間，持續如此屬高風險")
    elif rh > 60:
        level = 1
        reasons_en.append(f"{_fmt(rh)}% RH is above the 60-70% level at which mold is favoured")
        reasons_zh.append(f"相對濕度 {_fmt(rh)}% 已超過有利黴菌生長的 60-70% 門檻")
    else:
        level = 0
        reasons_en.append(f"{_fmt(rh)}% RH is within the recommended storage level of 50-60% or below")
        reasons_zh.append(f"相對濕度 {_fmt(rh)}% 在建議的 50-60% 以下存放範圍內")

    cold = t is not None and t < 10
    hot = t is not None and t > 40
    if t is None:
        reasons_en.append("no temperature was given: most shoe molds grow best at 20-30°C, and cold slows them")
        reasons_zh.append("未提供溫度：多數鞋子黴菌在 20-30°C 長得最好，低溫會減緩生長")
    elif cold:
        reasons_en.append(f"{_fmt(t)}°C is cold: cold slows mold growth but does not kill mold")
        reasons_zh.append(f"{_fmt(t)}°C 偏冷：低溫會減緩黴菌生長，但不會殺死黴菌")
    elif hot:
        reasons_en.append(f"{_fmt(t)}°C is hotter than most molds like, which slows growth")
        reasons_zh.append(f"{_fmt(t)}°C 高於多數黴菌適合的溫度，生長會變慢")
    elif 20 <= t <= 30:
        reasons_en.append(f"{_fmt(t)}°C is in the 20-30°C range where most shoe molds grow best")
        reasons_zh.append(f"{_fmt(t)}°C 落在多數鞋子黴菌最適合生長的 20-30°C")
    slowed = 1 if (cold or hot) else 0
    level = max(0, level - slowed)

    if hours >= 48:
        level = max(level, 3 - slowed)
        reasons_en.append(
            f"the shoes have stayed damp for {_fmt(hours)} hours: visible growth can appear within 24-48 hours"
        )
        reasons_zh.append(f"鞋子已潮濕 {_fmt(hours)} 小時：保持潮濕 24-48 小時內就可能長出肉眼可見的黴菌")
    elif hours >= 24:
        level = max(level, 2 - slowed)
        reasons_en.append(
            f"the shoes have stayed damp for {_fmt(hours)} hours: visible growth can appear within 24-48 hours"
        )
        reasons_zh.append(f"鞋子已潮濕 {_fmt(hours)} 小時：保持潮濕 24-48 小時內就可能長出肉眼可見的黴菌")
    elif hours > 0:
        level = max(level, 1 - slowed)
        reasons_en.append(f"the shoes are damp ({_fmt(hours)} hours so far): dry them within 24 hours")
        reasons_zh.append(f"鞋子仍潮濕（已 {_fmt(hours)} 小時）：應在 24 小時內完全乾燥")

    name: RiskLevel = _LEVELS[min(level, 3)]
    if name == "low":
        advice_en = "Keep storage at or below 50-60% RH and let shoes dry fully between wears."
        advice_zh = "存放濕度保持在 50-60% 以下，每次穿後讓鞋子完全乾燥。"
    elif name == "moderate":
        advice_en = "Bring humidity down to 50-60% or below (dehumidifier, silica gel) and air the shoes."
        advice_zh = "用除濕機或矽膠乾燥劑把濕度降到 50-60% 以下，並讓鞋子通風。"
    else:
        advice_en = (
            "Act now: dry the shoes fully within 24 hours, dehumidify to 50-60% or below, "
            "and check insoles and seams for spots."
        )
        advice_zh = "請立即處理：24 小時內讓鞋子完全乾燥，把濕度降到 50-60% 以下，並檢查鞋墊與縫線有無黴點。"

    result = {
        "level": name,
        "level_zh": _LEVEL_ZH[name],
        "temperature_c": t,
        "relative_humidity": rh,
        "hours_damp": hours,
        "reasons_en": reasons_en,
        "reasons_zh": reasons_zh,
        "advice_en": advice_en,
        "advice_zh": advice_zh,
    }
    where_en = f"{_fmt(rh)}% RH" if t is None else f"{_fmt(t)}°C and {_fmt(rh)}% RH"
    where_zh = f"相對濕度 {_fmt(rh)}%" if t is None else f"{_fmt(t)}°C、相對濕度 {_fmt(rh)}%"
    text_en = (
        f"Tool mold_risk: at {where_en} the mold risk is {name.replace('_', ' ')} "
        f"({'; '.join(reasons_en)}). {advice_en}"
    )
    text_zh = f"工具 mold_risk：在 {where_zh} 下，發霉風險為{_LEVEL_ZH[name]}（{'；'.join(reasons_zh)}）。{advice_zh}"
    return result, text_en, text_zh


# --------------------------------------------------------------------------------------------
# dew_point
# --------------------------------------------------------------------------------------------

# Magnus formula coefficients over water (Sonntag 1990), accurate to ~0.1 °C from -45 to 60 °C.
_MAGNUS_A = 17.62
_MAGNUS_B = 243.12


def dew_point_c(temperature_c: float, relative_humidity: float) -> float:
    """Dew point in °C by the Magnus formula; ``relative_humidity`` in percent (> 0)."""
    gamma = math.log(relative_humidity / 100.0) + _MAGNUS_A * temperature_c / (_MAGNUS_B + temperature_c)
    return _MAGNUS_B * gamma / (_MAGNUS_A - gamma)


def _dew_point(args: DewPointArgs) -> tuple[dict, str, str]:
    t, rh = args.temperature_c, args.relative_humidity
    td = round(dew_point_c(t, rh), 1)
    spread = round(t - td, 1)
    if spread <= 3:
        risk = "high"
        advice_en = (
            f"The air is close to saturation: condensation is likely on anything even slightly cooler than the room, "
            f"so dehumidify to 50-60% RH or below and keep shoes off cold walls and floors."
        )
        advice_zh = "空氣接近飽和，只要表面稍冷就容易結露；請除濕到 50-60% 以下，鞋子別靠著冷牆或冷地板。"
    elif spread <= 8:
        risk = "moderate"
        advice_en = (
            f"Surfaces colder than {td:g}°C (an outside wall, a cabinet back, shoes brought in from the cold) "
            "will collect condensation; ventilate and keep storage at 50-60% RH or below."
        )
        advice_zh = f"低於 {td:g}°C 的表面（外牆、鞋櫃背板、從寒冷戶外帶進來的鞋子）會結露；請保持通風並把濕度控制在 50-60% 以下。"
    else:
        risk = "low"
        advice_en = f"Only surfaces colder than {td:g}°C will collect condensation, so condensation is unlikely indoors."
        advice_zh = f"只有低於 {td:g}°C 的表面才會結露，室內結露的機會低。"
    result = {
        "dew_point_c": td,
        "temperature_c": t,
        "relative_humidity": rh,
        "spread_c": spread,
        "condensation_risk": risk,
        "advice_en": advice_en,
        "advice_zh": advice_zh,
    }
    text_en = f"Tool dew_point: at {_fmt(t)}°C and {_fmt(rh)}% RH the dew point is {td:g}°C. {advice_en}"
    text_zh = f"工具 dew_point：在 {_fmt(t)}°C、相對濕度 {_fmt(rh)}% 下，露點為 {td:g}°C。{advice_zh}"
    return result, text_en, text_zh


# --------------------------------------------------------------------------------------------
# material_care
# --------------------------------------------------------------------------------------------

_CARE: dict[str, dict[str, list[str]]] = {
    "leather": {
        "en": [
            "Wipe mold off outdoors with a cloth dampened in 70% alcohol or white vinegar diluted 1:1 with water; "
            "test on a hidden spot first.",
            "Never use bleach on leather.",
            "Dry at room temperature away from heaters, then restore oils with a leather conditioner.",
            "Store with cedar shoe trees in a ventilated place at 50-60% RH or below.",
        ],
        "zh": [
            "在戶外用沾了 70% 酒精或以 1:1 加水稀釋白醋的布擦去黴菌，先在不顯眼處測試。",
            "皮革絕對不要用漂白水。",
            "在室溫下遠離暖氣自然乾燥，之後用皮革保養油補充油分。",
            "放入雪松木鞋楦，存放在通風、濕度 50-60% 以下的地方。",
        ],
    },
    "suede": {
        "en": [
            "Let it dry completely, then brush mold and dirt off outdoors with a suede brush along the nap.",
            "Dab stubborn spots lightly with white vinegar diluted 1:1 with water on a cloth; never soak suede.",
            "Never use bleach or direct heat; restore the nap with a suede brush or eraser once dry.",
            "Protect with a water-repellent spray and store at 50-60% RH or below.",
        ],
        "zh": [
            "先讓麂皮完全乾燥，再到戶外用麂皮刷順著毛向刷掉黴菌與髒污。",
            "頑固斑點用布沾 1:1 稀釋的白醋輕拍，麂皮不可泡水。",
            "不要用漂白水或直接加熱；乾燥後用麂皮刷或橡皮擦整理絨毛。",
            "噴上防水噴霧，存放濕度保持在 50-60% 以下。",
        ],
    },
    "canvas": {
        "en": [
            "Remove laces and insoles; hand-wash or machine-wash cold in a bag with mild detergent.",
            "A paste of baking soda and water lifts stains and neutralises odour.",
            "Dry fully within 24 hours in moving air; stuff with paper to keep the shape.",
            "Store only when completely dry, at 50-60% RH or below.",
        ],
        "zh": [
            "拆下鞋帶與鞋墊，用溫和清潔劑手洗，或裝入洗衣袋以冷水機洗。",
            "小蘇打加水調成糊狀可去除污漬並中和異味。",
            "在通風處 24 小時內完全乾燥，鞋內塞紙維持鞋型。",
            "完全乾燥後才收納，存放濕度保持在 50-60% 以下。",
        ],
    },
    "knit": {
        "en": [
            "Hand-wash gently in cold water with mild detergent; do not scrub or wring the knit.",
            "Sprinkle baking soda inside overnight against odour, then shake it out.",
            "Air-dry with paper stuffing in moving air, never in a tumble dryer or on a heater.",
            "Mesh dries fast but traps sweat: rotate pairs so each rests ~24 hours.",
        ],
        "zh": [
            "用冷水加溫和清潔劑輕輕手洗，不要用力刷或擰乾。",
            "鞋內撒小蘇打放置一夜除臭，隔天倒掉。",
            "塞紙後在通風處自然風乾，不要用烘衣機或放在暖氣上。",
            "網布乾得快但容易積汗，輪流穿鞋，讓每雙休息約 24 小時。",
        ],
    },
    "rubber": {
        "en": [
            "Wash with warm soapy water, then wipe with 70% alcohol to kill remaining mold.",
            "Dry inside and out; rubber and EVA do not breathe, so moisture stays trapped inside.",
            "Keep EVA foam away from heaters, dryers and hot cars: heat deforms it.",
            "Store open, upright and dry at 50-60% RH or below.",
        ],
        "zh": [
            "用溫肥皂水清洗，再以 70% 酒精擦拭殺滅殘留黴菌。",
            "內外都要乾透；橡膠與 EVA 不透氣，濕氣容易悶在鞋內。",
            "EVA 發泡材遠離暖氣、烘乾機與高溫車內，受熱會變形。",
            "開口朝上、乾燥存放，濕度保持在 50-60% 以下。",
        ],
    },
    "synthetic": {
        "en": [
            "Wipe with mild soapy water, then with 70% alcohol on a cloth (test a hidden spot first).",
            "Dry at room temperature; high heat cracks PU coatings.",
            "PU breaks down faster in damp storage, so keep it at 50-60% RH or below with silica gel.",
            "Let shoes rest ~24 hours between wears so the lining dries.",
        ],
        "zh": [
            "先用溫和肥皂水擦拭，再用布沾 70% 酒精擦拭（先在不顯眼處測試）。",
            "室溫下自然乾燥；高溫會讓 PU 塗層龜裂。",
            "PU 在潮濕環境中老化更快，搭配矽膠乾燥劑，存放濕度保持在 50-60% 以下。",
            "每次穿後讓鞋子休息約 24 小時，讓內裡乾燥。",
        ],
    },
    # From the knowledge base's wool-and-felt entry: a protein fibre that holds a lot of water while
    # feeling dry and lets it go slowly; damp wool kept warm and closed molds and draws clothes moths.
    "wool": {
        "en": [
            "Wool and felt hold a lot of moisture while still feeling dry, so air wool shoes and wool-lined slippers after every wear.",
            "Take felt or wool insoles out and dry them separately, at room temperature.",
            "Brush off mold outdoors; hand-wash gently in cold water with a mild wool detergent, without wringing or heat.",
            "Store wool shoes clean and completely dry in a breathable place at 50-60% RH or below: damp wool in a warm, closed place molds and draws clothes moths.",
        ],
        "zh": [
            "羊毛與毛氈吸了大量水分摸起來仍是乾的，羊毛鞋和羊毛內裡的拖鞋每次穿後都要通風。",
            "毛氈或羊毛鞋墊拆出來，在室溫下單獨晾乾。",
            "到戶外刷掉黴菌；用冷水加溫和的羊毛清潔劑輕輕手洗，不要擰乾，也不要加熱。",
            "羊毛鞋要乾淨、完全乾燥後放在通風處收納，濕度保持在 50-60% 以下：潮濕的羊毛放在溫暖密閉處會發霉，也會招來衣蛾。",
        ],
    },
}


def _material_care(args: MaterialArgs) -> tuple[dict, str, str]:
    key = args.material
    names = MATERIALS[key]
    steps = _CARE[key]
    result = {"material": key, "material_en": names["en"], "material_zh": names["zh"], "steps_en": steps["en"], "steps_zh": steps["zh"]}
    text_en = f"Tool material_care ({names['en']}): {' '.join(steps['en'][:3])}"
    text_zh = f"工具 material_care（{names['zh']}）：{''.join(steps['zh'][:3])}"
    return result, text_en, text_zh


# --------------------------------------------------------------------------------------------
# drying_plan
# --------------------------------------------------------------------------------------------

# Hours to dry at room temperature with good airflow (paper changed, a fan). Soaked shoes done this way
# stay inside the 24-48 hours mold needs; thin mesh and non-absorbent rubber dry faster.
_BASE_HOURS = {"damp": (4.0, 8.0), "wet": (12.0, 24.0), "soaked": (24.0, 48.0)}
_MATERIAL_FACTOR = {"leather": 1.0, "suede": 1.0, "canvas": 1.0, "knit": 0.75, "rubber": 0.5, "synthetic": 0.75, "wool": 1.0}

_DRY_SPECIFIC: dict[str, tuple[str, str]] = {
    "leather": (
        "Never put leather on a heater, in the sun or under a hot hair dryer: direct high heat cracks it. "
        "Once dry, apply a leather conditioner.",
        "皮革絕不可放在暖氣旁、曝曬或用熱風吹風機直吹，高溫會讓皮革龜裂；乾燥後塗上皮革保養油。",
    ),
    "suede": (
        "Keep suede away from direct heat and sun; when dry, brush the nap back up with a suede brush.",
        "麂皮避免直接加熱與曝曬；乾燥後用麂皮刷把絨毛刷順。",
    ),
    "canvas": (
        "Canvas tolerates a fan or a shoe dryer on low; keep it out of harsh sun to avoid yellowing.",
        "帆布可用電風扇或低溫烘鞋機；避免烈日曝曬以免泛黃。",
    ),
    "knit": (
        "Knit and mesh dry fastest in moving air; no tumble dryer or heater, which shrink and warp them.",
        "針織與網布在通風處乾得最快；不要用烘衣機或暖氣，以免縮水變形。",
    ),
    "rubber": (
        "Tip rubber and EVA shoes upside down so trapped water drains; keep EVA away from heat, which deforms it.",
        "橡膠與 EVA 鞋倒置讓積水流出；EVA 遠離高溫以免變形。",
    ),
    "synthetic": (
        "Keep synthetic/PU uppers away from heaters; high heat cracks and peels the coating.",
        "合成皮/PU 鞋面遠離暖氣，高溫會讓塗層龜裂脫皮。",
    ),
    "wool": (
        "Wool releases water slowly and feels dry before it is: keep airing it a while after it feels dry; "
        "no heater or tumble dryer, which shrink and felt it.",
        "羊毛釋放水分很慢，摸起來乾了其實還沒乾透：覺得乾了之後再多通風一段時間；不要用暖氣或烘衣機，以免縮水、氈化。",
    ),
}


def _drying_plan(args: DryingArgs) -> tuple[dict, str, str]:
    key, wetness = args.material, args.wetness
    names = MATERIALS[key]
    factor = _MATERIAL_FACTOR[key]
    low, high = (round(h * factor) for h in _BASE_HOURS[wetness])
    specific_en, specific_zh = _DRY_SPECIFIC[key]
    steps_en = [
        "Remove the insoles and laces and dry them separately.",
        "Blot the shoes with a towel, then stuff them with newspaper or paper towels; replace the paper "
        "when it is damp (every few hours at first).",
        "Stand them in moving air at room temperature: a fan, a dehumidifier in the room, or a low-heat shoe dryer.",
        specific_en,
        "Keep the air moving until they are dry inside: visible growth can appear within 24-48 hours of staying wet.",
    ]
    steps_zh = [
        "取出鞋墊、拆下鞋帶，分開晾乾。",
        "先用毛巾吸乾，再塞入報紙或廚房紙巾，紙濕了就更換（一開始每幾小時換一次）。",
        "放在室溫通風處：電風扇、房間內開除濕機，或使用低溫烘鞋機。",
        specific_zh,
        "持續通風直到鞋內乾透：保持潮濕 24-48 小時內就可能長出肉眼可見的黴菌。",
    ]
    if wetness == "soaked":
        steps_en.insert(0, "Rinse off mud or dirty water first, then press out as much water as you can without wringing.")
        steps_zh.insert(0, "先沖掉泥沙或髒水，再在不扭擰的情況下盡量壓出水分。")
    wetness_zh = {"damp": "微濕", "wet": "濕", "soaked": "濕透"}[wetness]
    result = {
        "material": key,
        "material_en": names["en"],
        "material_zh": names["zh"],
        "wetness": wetness,
        "estimated_hours": [low, high],
        "steps_en": steps_en,
        "steps_zh": steps_zh,
    }
    text_en = (
        f"Tool drying_plan ({names['en']}, {wetness}): remove insoles and laces, stuff with paper and dry in "
        f"moving air at room temperature; expect about {low}-{high} hours. {specific_en} Visible growth can "
        "appear within 24-48 hours of staying wet, so keep the air moving until they are dry inside."
    )
    text_zh = (
        f"工具 drying_plan（{names['zh']}，{wetness_zh}）：取出鞋墊與鞋帶、塞紙並在室溫通風處乾燥，"
        f"約需 {low}-{high} 小時。{specific_zh}保持潮濕 24-48 小時內就可能長出肉眼可見的黴菌，請持續通風直到鞋內乾透。"
    )
    return result, text_en, text_zh


# --------------------------------------------------------------------------------------------
# diagnose_symptoms
# --------------------------------------------------------------------------------------------

# Evidence weights: (terms, {candidate: weight}). Terms are matched on NFKC-lowered text.
_Evidence = tuple[tuple[str, ...], dict[str, float]]

_COLOUR_EVIDENCE: tuple[_Evidence, ...] = (
    (("green", "olive", "綠", "绿"), {"mold": 3.0, "verdigris": 1.0}),
    (("black", "dark spot", "黑"), {"mold": 2.5}),
    (("blue", "藍", "蓝"), {"mold": 2.5, "verdigris": 0.5}),
    (("pink", "red", "orange", "粉紅", "粉红", "紅", "红", "橘", "橙"), {"mold": 1.5}),
    (("yellow", "黃", "黄"), {"mold": 1.0}),
    (("grey", "gray", "灰"), {"mold": 1.0, "bloom": 1.0}),
    (("white", "白"), {"mold": 1.0, "salt": 1.5, "bloom": 1.5}),
)
_TEXTURE_EVIDENCE: tuple[_Evidence, ...] = (
    (("fuzz", "fuzzy", "furry", "hairy", "cotton", "cottony", "velvet", "thread", "毛", "絨", "绒", "棉絮"), {"mold": 3.0}),
    (("powder", "powdery", "dusty", "粉"), {"mold": 2.0, "bloom": 0.5}),
    (("spot", "dots", "speck", "patch", "斑", "點", "点"), {"mold": 1.5}),
    (("slimy", "黏", "滑膩", "滑腻"), {"mold": 1.0}),
    (("crust", "crusty", "crystal", "gritty", "chalky", "salt", "tide", "line", "ring", "hard", "rough",
      "結晶", "结晶", "顆粒", "颗粒", "硬", "鹽", "盐", "水痕", "線", "线", "圈"), {"salt": 3.0, "verdigris": 1.0}),
    (("waxy", "wax", "greasy", "oily", "film", "haze", "hazy", "bloom", "cloudy", "smooth", "sheen",
      "蠟", "蜡", "油", "霧", "雾", "薄膜", "膜"), {"bloom": 3.0, "verdigris": 1.0}),
    (("flak", "peel", "crumbl", "cracking", "disintegrat", "脫皮", "脱皮", "剝落", "剥落", "掉屑", "碎", "龜裂", "龟裂"),
     {"hydrolysis": 3.0}),
)
_SMELL_EVIDENCE: tuple[_Evidence, ...] = (
    (("musty", "mouldy", "moldy", "mildew", "earthy", "damp", "basement", "stale", "霉味", "黴味", "潮味", "土味", "霉", "黴", "悶"),
     {"mold": 3.5}),
    (("none", "no smell", "nothing", "odourless", "odorless", "no odour", "no odor", "normal",
      "沒有", "没有", "無味", "无味", "不臭", "沒味", "没味", "無"), {"salt": 1.5, "bloom": 1.5, "verdigris": 1.0, "hydrolysis": 1.0}),
    (("leather", "皮革味"), {"bloom": 0.5}),
)
_LOCATION_EVIDENCE: tuple[_Evidence, ...] = (
    (("insole", "inside", "lining", "footbed", "tongue", "toe box", "鞋墊", "鞋垫", "內", "内", "鞋舌"), {"mold": 1.5}),
    (("seam", "stitch", "縫", "缝"), {"mold": 1.0}),
    (("water line", "waterline", "edge", "sole edge", "welt", "toe cap", "where it got wet", "snow", "salted road",
      "邊緣", "边缘", "水痕", "沿著", "沿着", "鞋頭", "鞋头"), {"salt": 2.0}),
    (("upper", "whole", "all over", "entire", "leather", "鞋面", "整個", "整个", "皮面"), {"bloom": 1.0, "mold": 0.5}),
    (("eyelet", "buckle", "rivet", "hardware", "metal", "brass", "copper",
      "鞋眼", "扣環", "扣环", "鉚釘", "铆钉", "金屬", "金属", "銅", "铜"), {"verdigris": 3.0}),
    (("synthetic", "pu", "sole", "midsole", "合成皮", "鞋底", "中底"), {"hydrolysis": 1.0}),
)

_CANDIDATE_NAMES = {
    "mold": ("mold", "黴菌"),
    "salt": ("salt stains", "鹽漬（鹽霜）"),
    "bloom": ("fat/wax bloom (spew)", "油脂/蠟質析出（白霜）"),
    "verdigris": ("verdigris (copper corrosion)", "銅綠（銅鏽）"),
    "hydrolysis": ("PU hydrolysis (the material breaking down)", "PU 水解（材質老化分解）"),
}
_NEXT_STEP = {
    "mold": (
        "Take the shoes outdoors, wipe with 70% alcohol or white vinegar diluted 1:1 with water, dry fully within "
        "24 hours and keep storage at 50-60% RH or below; if the spots come back, replace the insoles.",
        "把鞋子拿到戶外，用 70% 酒精或 1:1 稀釋白醋擦拭，24 小時內完全乾燥，存放濕度保持 50-60% 以下；若黴點再出現，更換鞋墊。",
    ),
    "salt": (
        "Test: salt stains dissolve with a cloth dampened in water (or white vinegar diluted 1:1) and do not smell; "
        "clean the whole panel evenly, dry slowly at room temperature and condition leather afterwards.",
        "測試：鹽漬用沾水（或 1:1 稀釋白醋）的布擦就會溶解，而且沒有味道；整片均勻清潔，室溫慢慢乾燥，皮革再上保養油。",
    ),
    "bloom": (
        "Test: fat or wax bloom melts and disappears with gentle warmth (your hand or a warm cloth) and has no musty "
        "smell; buff it off with a soft dry cloth and condition the leather. It is not mold and is harmless.",
        "測試：油脂或蠟質析出的白霜遇到溫和熱度（手溫或溫熱的布）就會融化消失，也沒有霉味；用軟布擦亮後上皮革保養油即可，這不是黴菌，無害。",
    ),
    "verdigris": (
        "Verdigris stays on and around brass or copper eyelets and buckles, is hard or waxy and has no musty smell; "
        "remove it gently with a cotton swab and a little leather cleaner, dry the area and condition the leather.",
        "銅綠只在黃銅或銅製鞋眼、扣環周圍，摸起來硬或像蠟、沒有霉味；用棉花棒沾少量皮革清潔劑輕輕去除，擦乾後上皮革保養油。",
    ),
    "hydrolysis": (
        "Flaking synthetic leather or crumbling PU soles is hydrolysis, the polyurethane breaking down with age and "
        "humidity, not mold; it cannot be cleaned off, so ask a cobbler about new soles and store shoes at 50-60% RH "
        "or below.",
        "合成皮脫皮或 PU 鞋底碎裂是水解：聚氨酯隨時間與濕氣老化分解，不是發霉，也無法清除；可請修鞋師傅換底，存放濕度保持 50-60% 以下。",
    ),
    "unclear": (
        "Not enough to tell: look for fuzz and a musty smell (mold), then do a wipe test with a damp cloth: salt "
        "dissolves in water, fat bloom melts with gentle warmth, mold smears.",
        "資訊不足以判斷：先看有沒有絨毛、聞有沒有霉味（黴菌），再用濕布做擦拭測試：鹽漬遇水溶解、油脂析出遇溫熱融化、黴菌會被抹開。",
    ),
}

# "no smell" / "沒有霉味" must not count as a musty smell: negations cancel smell evidence for mold.
_NEGATED_SMELL = re.compile(r"(no|not|without|doesn't|does not|isn't|沒有|没有|無|无|不)\s*\S{0,6}\s*(smell|odou?r|musty|霉味|黴味|味|臭)")


def _score(text: str, table: tuple[_Evidence, ...], scores: dict[str, float], hits: list[str]) -> None:
    if not text:
        return
    for terms, weights in table:
        matched = next((term for term in terms if term in text), None)
        if matched is None:
            continue
        hits.append(matched)
        for candidate, weight in weights.items():
            scores[candidate] += weight


def _diagnose(args: DiagnoseArgs) -> tuple[dict, str, str]:
    scores = dict.fromkeys(_CANDIDATE_NAMES, 0.0)
    hits: list[str] = []
    colour, texture, location = _norm(args.colour), _norm(args.texture), _norm(args.location)
    smell = _norm(args.smell)
    _score(colour, _COLOUR_EVIDENCE, scores, hits)
    _score(texture, _TEXTURE_EVIDENCE, scores, hits)
    if smell and _NEGATED_SMELL.search(smell):
        for candidate, weight in _SMELL_EVIDENCE[1][1].items():
            scores[candidate] += weight
        hits.append("no smell")
    else:
        _score(smell, _SMELL_EVIDENCE, scores, hits)
    _score(location, _LOCATION_EVIDENCE, scores, hits)

    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    top, top_score = ranked[0]
    margin = top_score - ranked[1][1]
    if total < 2.0 or margin <= 0:  # a location alone is not enough to tell
        likely = "unclear"
        confidence = 0.0 if total == 0 else round(min(0.4, top_score / total), 2)
    else:
        likely = top
        # Share of the evidence, discounted when little evidence was given at all.
        confidence = round(min(0.95, (top_score / total) * min(1.0, total / 6.0)), 2)
    next_en, next_zh = _NEXT_STEP[likely]
    candidates = [
        {"name": key, "name_en": _CANDIDATE_NAMES[key][0], "name_zh": _CANDIDATE_NAMES[key][1],
         "score": round(value / total, 2) if total else 0.0}
        for key, value in ranked
    ]
    result = {
        "likely": likely,
        "likely_en": _CANDIDATE_NAMES[likely][0] if likely != "unclear" else "unclear",
        "likely_zh": _CANDIDATE_NAMES[likely][1] if likely != "unclear" else "無法判斷",
        "confidence": confidence,
        "candidates": candidates,
        "evidence": hits,
        "next_step_en": next_en,
        "next_step_zh": next_zh,
    }
    if likely == "unclear":
        text_en = f"Tool diagnose_symptoms: the description is not enough to tell mold from look-alikes. {next_en}"
        text_zh = f"工具 diagnose_symptoms：描述不足以分辨黴菌與類似現象。{next_zh}"
    else:
        text_en = (
            f"Tool diagnose_symptoms: most likely {result['likely_en']} (confidence {confidence:.0%}). {next_en}"
        )
        text_zh = f"工具 diagnose_symptoms：最可能是{result['likely_zh']}（信心 {confidence:.0%}）。{next_zh}"
    return result, text_en, text_zh


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    args_model: type[_Args]
    compute: Callable[..., tuple[dict, str, str]]
    description: str


_SPECS: dict[str, _Spec] = {
    "mold_risk": _Spec(
        MoldRiskArgs,
        _mold_risk,
        "Rate the risk of mold growing on shoes (low, moderate, high, very_high) from air temperature in °C, "
        "relative humidity in % and how many hours the shoes have stayed damp. Use when the user gives "
        "a temperature and a humidity.",
    ),
    "dew_point": _Spec(
        DewPointArgs,
        _dew_point,
        "Compute the dew point (Magnus formula) from temperature in °C and relative humidity in %, and say "
        "whether condensation will form on cold surfaces such as a shoe cabinet against an outside wall.",
    ),
    "material_care": _Spec(
        MaterialArgs,
        _material_care,
        "Care, cleaning and mold-prevention steps for one shoe material: leather, suede/nubuck, canvas/cotton, "
        "knit/mesh, rubber/EVA, synthetic/PU or wool/felt (English or Chinese names).",
    ),
    "drying_plan": _Spec(
        DryingArgs,
        _drying_plan,
        "Step-by-step plan and time estimate for drying wet shoes of one material; wetness is damp, wet or soaked.",
    ),
    "diagnose_symptoms": _Spec(
        DiagnoseArgs,
        _diagnose,
        "Tell mold from look-alikes (salt stains, fat/wax bloom, verdigris, PU hydrolysis) from the colour, texture, smell and location of "
        "marks on a shoe; returns the likely cause, a confidence and the next step.",
    ),
}


# How each numeric field's range reads in an error message.
_RANGE_TEXT = {
    "temperature_c": "must be between -50 and 70 °C",
    "relative_humidity": "must be a percentage between 0 and 100",
    "hours_damp": f"must be between 0 and {MAX_HOURS} hours (one year)",
}
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages that echo a bad argument."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "arguments"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"{field} is required")
        elif err["type"] in _RANGE_ERRORS and field in _RANGE_TEXT:
            detail = " and above 0 for a dew point" if err["type"] == "greater_than" else ""
            parts.append(f"{field} {_RANGE_TEXT[field]}{detail} (got {_shown(err.get('input'))})")
        elif field == "arguments":
            parts.append(message)
        else:
            parts.append(f"{field}: {message} (got {_shown(err.get('input'))})")
    return "; ".join(parts)


def run_tool(name: str, args: dict | None) -> ToolResult:
    """Run tool ``name`` on ``args``; unknown tools and bad arguments give a ToolResult with ``error`` set."""
    if args is not None and not isinstance(args, Mapping):
        error = f"arguments must be a JSON object of named values, not {type(args).__name__}"
        return ToolResult(str(name), {}, {}, f"Tool error: {error}", f"工具錯誤：{error}", error)
    args = dict(args or {})
    spec = _SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        error = f"unknown tool {_shown(name)}; available: {', '.join(TOOL_NAMES)}"
        return ToolResult(name, args, {}, f"Tool error: {error}", f"工具錯誤：{error}", error)
    try:
        parsed = spec.args_model.model_validate(args)
    except ValidationError as exc:
        error = _error_message(exc)
        return ToolResult(name, args, {}, f"Tool {name} could not run: {error}.", f"工具 {name} 無法執行：{error}。", error)
    result, text_en, text_zh = spec.compute(parsed)
    return ToolResult(name, parsed.model_dump(), result, text_en, text_zh)


def mold_risk(temperature_c: float | None, relative_humidity: float, hours_damp: float = 0) -> ToolResult:
    """Mold risk level and reasons for shoes at this temperature (None: not known), humidity and time spent damp."""
    return run_tool(
        "mold_risk",
        {"temperature_c": temperature_c, "relative_humidity": relative_humidity, "hours_damp": hours_damp},
    )


def dew_point(temperature_c: float, relative_humidity: float) -> ToolResult:
    """Dew point (Magnus formula) and condensation advice."""
    return run_tool("dew_point", {"temperature_c": temperature_c, "relative_humidity": relative_humidity})


def material_care(material: str) -> ToolResult:
    """Care and mold-prevention steps for one material (en or zh name)."""
    return run_tool("material_care", {"material": material})


def drying_plan(material: str, wetness: str = "wet") -> ToolResult:
    """Drying steps and time estimate for shoes of ``material`` that are damp, wet or soaked."""
    return run_tool("drying_plan", {"material": material, "wetness": wetness})


def diagnose_symptoms(colour: str = "", texture: str = "", smell: str = "", location: str = "") -> ToolResult:
    """Mold vs. salt stains vs. fat bloom from a description of the marks."""
    return run_tool("diagnose_symptoms", {"colour": colour, "texture": texture, "smell": smell, "location": location})


def langchain_tools() -> list[StructuredTool]:
    """The five tools as LangChain ``StructuredTool`` objects for ``bind_tools`` (Ollama, Llama 3.x).

    Each returns the ToolResult as a dict, so a tool-calling loop can show both the data and the summary.
    """
    from langchain_core.tools import StructuredTool

    def make(name: str) -> StructuredTool:
        spec = _SPECS[name]

        def call(**kwargs: object) -> dict:
            return run_tool(name, kwargs).to_dict()

        # The JSON schema (with its ranges) tells the model what to send; validation is left to
        # run_tool so that bad arguments come back as a ToolResult error instead of an exception.
        schema = spec.args_model.model_json_schema()
        schema["title"] = name
        return StructuredTool.from_function(func=call, name=name, description=spec.description, args_schema=schema)

    return [make(name) for name in TOOL_NAMES]

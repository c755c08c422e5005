"""The tool planner: which deterministic tools to call for a question, with which arguments.

It reads numbers and words out of English or Chinese text (temperatures in °C or °F, 「攝氏25度」,
humidity as 「濕度80%」 / "80% humidity" / "RH 80", hours or days spent damp, materials, and the
colour, texture, smell and location of marks) and decides on at most three calls:

* humidity (with the temperature when given) -> ``mold_risk`` (+ ``dew_point`` when both are given and
  condensation is asked about);
* a material + drying or wet shoes -> ``drying_plan``; a material + care/cleaning/prevention ->
  ``material_care``;
* a description of spots, colour or fuzz -> ``diagnose_symptoms``.

Most questions need no tool at all. The planner never calls an LLM.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from shoeagent.agent.tools import find_materials

MAX_CALLS = 3


@dataclass
class PlannedCall:
    name: str
    args: dict


@dataclass
class Extracted:
    """What the planner read out of a question."""

    temperature_c: float | None = None
    relative_humidity: float | None = None
    hours: float | None = None
    materials: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    textures: list[str] = field(default_factory=list)
    smells: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)


_NUM = r"(-?\d+(?:\.\d+)?)"


def _prepare(question: str) -> str:
    # NFKC turns full-width digits, ％ and ℃ (-> °C) into ASCII forms.
    text = unicodedata.normalize("NFKC", question).lower()
    text = text.replace("零下", "-").replace("負", "-").replace("负", "-")
    return re.sub(r"\s+", " ", text)


def _f_to_c(value: float) -> float:
    return round((value - 32) * 5 / 9, 1)


# ---------------------------------------------------------------------------- temperature

_TEMP_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"華氏\s*" + _NUM + r"\s*度?|华氏\s*" + _NUM + r"\s*度?"), "F"),
    (re.compile(r"攝氏\s*" + _NUM + r"\s*度?|摄氏\s*" + _NUM + r"\s*度?"), "C"),
    (re.compile(_NUM + r"\s*(?:°|º|度|degrees?|deg)\s*(?:f|fahrenheit)\b"), "F"),
    (re.compile(_NUM + r"\s*(?:°|º|度|degrees?|deg)\s*(?:c|celsius|centigrade)\b"), "C"),
    (re.compile(_NUM + r"\s*(?:fahrenheit)\b"), "F"),
    (re.compile(_NUM + r"\s*(?:celsius|centigrade)\b"), "C"),
    (re.compile(r"(?<![\w.])" + _NUM + r"(f)\b"), "F"),
    (re.compile(r"(?<![\w.])" + _NUM + r"(c)\b"), "C"),
    (re.compile(r"(?:溫度|温度|氣溫|气温|室溫|室温|temperature|temp)\s*(?:is|of|at|=|:|about|around|為|为|是|約|约|大約|大约|有|在)?\s*"
                + _NUM + r"\s*(?:度)?"), "C"),
    (re.compile(_NUM + r"\s*度(?!c|f)"), "C"),
    # A bare "85 degrees" is Fahrenheit above 50 (nobody stores shoes at 85 °C); handled in code.
    (re.compile(_NUM + r"\s*degrees?\b"), "?"),
)


def extract_temperature(text: str) -> float | None:
    """Temperature in °C from already-prepared text, or None."""
    for pattern, unit in _TEMP_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        value = float(next(g for g in match.groups() if g is not None and g not in ("f", "c")))
        if unit == "F" or (unit == "?" and value > 50):
            return _f_to_c(value)
        return value
    return None


# ---------------------------------------------------------------------------- humidity

_HUMIDITY_PATTERNS = (
    re.compile(r"(?:相對濕度|相对湿度|濕度|湿度|relative humidity|humidity|\brh)"
               r"(?:\s*(?:is|of|at|was|stays|sits|=|:|about|around|roughly|reaches|like|nearly|almost|over|above|always|"
               r"usually|constantly|為|为|是|約|约|大約|大约|大概|差不多|將近|将近|超過|超过|都|總是|总是|一直|常常|有|"
               r"達到|达到|達|达|在|高達|高达|~)){0,3}"
               r"\s*(?:百分之)?\s*" + _NUM + r"\s*%?"),
    re.compile(_NUM + r"\s*%\s*(?:rh|r\.h\.|relative humidity|humidity|humid|的?相對濕度|的?濕度|的?湿度)"),
    re.compile(r"(?:濕度|湿度)[^\d%]{0,6}百分之\s*" + _NUM),
)
# Percentages that are not humidity ("70% alcohol", "50% off").
_NOT_HUMIDITY = re.compile(r"^\s*(?:isopropyl |rubbing |ethyl )?(?:alcohol|酒精|vinegar|醋|off|discount|折|battery|電|charge)")
_PERCENT = re.compile(_NUM + r"\s*%")


def extract_humidity(text: str, allow_bare_percent: bool = False) -> float | None:
    """Relative humidity in % from prepared text; a lone bare "80%" counts only when allowed."""
    for pattern in _HUMIDITY_PATTERNS:
        match = pattern.search(text)
        if match:
            return float(match.group(1))
    if allow_bare_percent:
        candidates = [m for m in _PERCENT.finditer(text) if not _NOT_HUMIDITY.match(text[m.end():])]
        if len(candidates) == 1:
            return float(candidates[0].group(1))
    return None


# ---------------------------------------------------------------------------- time spent damp

_ZH_DIGITS = {"一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "半": 0.5}


def _zh_number(token: str) -> float | None:
    if not token:
        return None
    if token in _ZH_DIGITS:
        return float(_ZH_DIGITS[token])
    if token.startswith("十"):  # 十二 = 12
        return 10 + _ZH_DIGITS.get(token[1:], 0)
    if len(token) == 2 and token[1] == "十":  # 二十 = 20
        return _ZH_DIGITS.get(token[0], 0) * 10.0
    if len(token) == 3 and token[1] == "十":  # 二十四 = 24
        return _ZH_DIGITS.get(token[0], 0) * 10.0 + _ZH_DIGITS.get(token[2], 0)
    return None


_ZH_NUM = r"([0-9.]+|[一二兩两三四五六七八九十半]{1,3})"
_HOUR_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(_NUM + r"\s*(?:hours?|hrs?|h)\b"), 1.0),
    (re.compile(_NUM + r"\s*(?:days?)\b"), 24.0),
    (re.compile(_NUM + r"\s*(?:weeks?)\b"), 168.0),
    (re.compile(_ZH_NUM + r"\s*(?:個|个)?\s*(?:小時|小时|鐘頭|钟头)"), 1.0),
    (re.compile(_ZH_NUM + r"\s*(?:天|日)(?!氣|气|然)"), 24.0),
    (re.compile(_ZH_NUM + r"\s*(?:個|个)?\s*(?:星期|禮拜|礼拜|週|周)"), 168.0),
)
_HOUR_WORDS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\b(a|one|two|three) (day|days)\b"), 0.0),  # resolved below
    (re.compile(r"\bovernight\b|一夜|一晚|整晚|過夜|过夜"), 12.0),
    (re.compile(r"\ball day\b|\ba whole day\b|一整天|整天"), 24.0),
    (re.compile(r"\b(the |a |all )?weekend\b|整個週末|整个周末|週末|周末"), 48.0),
    (re.compile(r"\ba week\b|一週|一周"), 168.0),
)
_EN_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3}


def extract_hours(text: str) -> float | None:
    """How long something lasted, in hours, from prepared text ("2 days", "兩天", "overnight")."""
    for pattern, factor in _HOUR_PATTERNS:
        match = pattern.search(text)
        if match:
            token = match.group(1)
            value = float(token) if re.fullmatch(r"[0-9.]+", token) else _zh_number(token)
            if value is not None:
                return value * factor
    for pattern, hours in _HOUR_WORDS:
        match = pattern.search(text)
        if match:
            if hours == 0.0:
                return _EN_NUMBERS[match.group(1)] * 24.0
            return hours
    return None


# ---------------------------------------------------------------------------- marks on the shoe

_COLOURS = {
    "white": ("white", "whitish", "白"), "green": ("green", "greenish", "綠", "绿"), "black": ("black", "黑"),
    "blue": ("blue", "藍", "蓝"), "grey": ("grey", "gray", "灰"), "yellow": ("yellow", "黃", "黄"),
    "pink": ("pink", "粉紅", "粉红"), "orange": ("orange", "橘", "橙"), "brown": ("brown", "褐", "咖啡色"),
}
_TEXTURES = {
    "fuzzy": ("fuzzy", "fuzz", "furry", "hairy", "cottony", "毛茸茸", "毛毛", "絨毛", "绒毛", "長毛", "长毛"),
    "powdery": ("powdery", "powder", "dusty", "粉粉", "粉狀", "粉状", "粉末"),
    "spots": ("spots", "spot", "dots", "specks", "patches", "斑點", "斑点", "黑點", "白點", "點點", "斑"),
    "crusty line": ("crust", "crusty", "crystals", "tide line", "tide lines", "chalky", "gritty", "line", "lines", "ring",
                    "結晶", "结晶", "一圈", "線條", "线条", "水痕", "顆粒", "颗粒"),
    "waxy film": ("waxy", "wax", "greasy", "oily", "film", "haze", "hazy", "cloudy", "bloom",
                  "蠟", "蜡", "油", "白霧", "白雾", "霧霧", "雾雾", "薄膜", "白霜", "起霜"),
    "slimy": ("slimy", "黏黏", "黏"),
    "flaking": ("flaking", "flakes", "peeling", "crumbling", "crumbles", "cracking", "disintegrating",
                "脫皮", "脱皮", "剝落", "剥落", "掉屑", "碎掉", "龜裂", "龟裂"),
}
_SMELLS = {
    "musty": ("musty", "mouldy smell", "moldy smell", "mildew", "earthy", "damp basement", "basement", "霉味", "黴味", "潮味", "悶味", "闷味", "土味"),
    "no smell": ("no smell", "doesn't smell", "does not smell", "odourless", "odorless", "沒有味道", "没有味道", "沒味道", "无味", "無味", "不臭"),
    "sour": ("sour", "vinegar smell", "cheesy", "酸臭", "酸味"),
}
_LOCATIONS = {
    "insole": ("insole", "insoles", "footbed", "鞋墊", "鞋垫"),
    "lining": ("lining", "inside", "inner", "內裡", "内里", "裡面", "里面", "鞋內", "鞋内"),
    "seams": ("seam", "seams", "stitching", "縫線", "缝线"),
    "along the water line": ("water line", "waterline", "edge", "edges", "邊緣", "边缘", "沿著", "沿着"),
    "toe": ("toe", "toe cap", "鞋頭", "鞋头"),
    "upper": ("upper", "鞋面"),
    "sole": ("sole", "soles", "outsole", "鞋底"),
    "metal hardware": ("eyelet", "eyelets", "buckle", "buckles", "rivet", "rivets", "metal", "brass",
                       "鞋眼", "扣環", "扣环", "鉚釘", "铆钉", "金屬", "金属"),
}


def _find_terms(text: str, table: dict[str, tuple[str, ...]]) -> list[str]:
    found = []
    for name, terms in table.items():
        for term in terms:
            if term.isascii():
                hit = re.search(r"(?<![a-z])" + re.escape(term) + r"(?![a-z])", text)
            else:
                hit = term in text
            if hit:
                found.append(name)
                break
    return found


_NO_SMELL = re.compile(
    r"\b(no|not|without|doesn't|does not|isn't|never)\s+(\w+\s+)?(musty |moldy |mouldy |bad )?(smell|odou?r)"
    r"|(沒有|没有|無|无|不)\S{0,3}(霉味|黴味|味道|臭)"
)


# Symptoms on the user's body are not marks on the shoe: "腳底很癢又一直脫皮" is peeling skin, not a peeling
# PU coating, and "the skin between my toes is cracking" is not cracked leather.
_ON_THE_BODY = re.compile(
    r"\b(skin|feet|foot|toes?|soles? of my feet|heels? of my feet)\b[^.?!,;]{0,25}?\b(peel\w*|crack\w*|flak\w*|scal\w*)"
    r"|\b(peel\w*|crack\w*|flak\w*|scaly)\s+(skin|feet|toes?)\b"
    r"|(腳|脚|足|趾|皮膚|皮肤|手)[^，。？！,?!；;]{0,6}?(脫皮|脱皮|龜裂|龟裂|裂開|裂开|剝落|剥落)"
)


def extract(question: str) -> Extracted:
    """Read numbers, materials and descriptions of marks out of an English or Chinese question."""
    text = _prepare(question)
    marks = _ON_THE_BODY.sub(" ", text)
    temperature = extract_temperature(text)
    smells = _find_terms(text, _SMELLS)
    if _NO_SMELL.search(text):  # "no musty smell" is the absence of a smell, not a musty one
        smells = ["no smell"] + [s for s in smells if s not in ("musty", "no smell")]
    return Extracted(
        temperature_c=temperature,
        relative_humidity=extract_humidity(text, allow_bare_percent=temperature is not None),
        hours=extract_hours(text),
        materials=find_materials(question),
        colours=_find_terms(text, _COLOURS),
        textures=_find_terms(marks, _TEXTURES),
        smells=smells,
        locations=_find_terms(text, _LOCATIONS),
    )


# ---------------------------------------------------------------------------- intents

_CONDENSATION = re.compile(r"condens\w*|\bdew\b|dew ?point|\bfog\w*|sweating wall|結露|露點|露点|凝結|凝结|反潮|水珠|冷凝")
_DRY_VERB = re.compile(
    r"\b(dry|drying|dried|dry out|air[- ]dry)\b|弄乾|弄干|晾乾|晾干|烘乾|烘干|吹乾|吹干|風乾|风干|陰乾|阴干|怎麼乾|怎么干|乾燥|乾得|變乾"
)
_WET_STATE = re.compile(
    r"\b(soaked|drenched|waterlogged|flooded|submerged|soggy|sopping|rained on|got wet|are wet|is wet|still wet"
    r"|wet through|stepped in a puddle|puddle|damp)\b|濕透|湿透|淋濕|淋湿|泡水|濕掉|湿掉|弄濕|弄湿|進水|进水|淋雨|濕濕|湿湿|還是濕|还是湿|微濕|有點濕"
)
_SOAKED = re.compile(r"\b(soaked|drenched|waterlogged|flooded|submerged|sopping|wet through)\b|濕透|湿透|泡水|全濕|全湿|浸濕|浸湿|進水|进水")
_DAMP = re.compile(r"\b(damp|moist|slightly wet|a bit wet|a little wet)\b|微濕|微湿|有點濕|有点湿|潮潮|有點潮")
_CARE = re.compile(
    r"\b(clean\w*|wash\w*|care|caring|stor(e|ed|ing|age)|condition\w*|protect\w*|prevent\w*|remove|removing|kill\w*|wipe"
    r"|maintain\w*|look after)\b"
    r"|保養|保养|清潔|清洁|清洗|洗|收納|收纳|存放|保存|防霉|預防|预防|除霉|去霉|擦"
)


def _wetness(text: str) -> str:
    if _SOAKED.search(text):
        return "soaked"
    if _DAMP.search(text):
        return "damp"
    return "wet"


def plan_tool_calls(question: str, route: str) -> list[PlannedCall]:
    """The tool calls worth making for ``question`` on ``route`` (none for out-of-scope), at most three."""
    if route == "out_of_scope" or not question.strip():
        return []
    text = _prepare(question)
    found = extract(question)
    calls: list[PlannedCall] = []

    if found.relative_humidity is not None:
        # Humidity alone decides most of the risk ("is 85% humidity enough to make shoes mold?");
        # the temperature refines it when given, and the dew point needs both.
        args: dict[str, float] = {"relative_humidity": found.relative_humidity}
        if found.temperature_c is not None:
            args = {"temperature_c": found.temperature_c} | args
        if found.hours is not None:
            calls.append(PlannedCall("mold_risk", args | {"hours_damp": found.hours}))
        else:
            calls.append(PlannedCall("mold_risk", dict(args)))
        if found.temperature_c is not None and _CONDENSATION.search(text):
            calls.append(PlannedCall("dew_point", dict(args)))

    if found.materials:
        material = found.materials[0]
        drying = bool(_DRY_VERB.search(text)) or (route != "prevention" and bool(_WET_STATE.search(text)))
        if drying:
            calls.append(PlannedCall("drying_plan", {"material": material, "wetness": _wetness(text)}))
        elif route in ("prevention", "treatment") or (route == "general" and _CARE.search(text)):
            calls.append(PlannedCall("material_care", {"material": material}))

    # A colour alone ("my white sneakers") is not a description of marks; outside diagnosis questions
    # both a colour and a texture are needed.
    if route == "diagnosis":
        described = bool(found.colours or found.textures or found.smells)
    else:
        described = bool(found.colours and found.textures)
    if described:
        calls.append(
            PlannedCall(
                "diagnose_symptoms",
                {
                    "colour": ", ".join(found.colours),
                    "texture": ", ".join(found.textures),
                    "smell": ", ".join(found.smells),
                    "location": ", ".join(found.locations),
                },
            )
        )
    return calls[:MAX_CALLS]

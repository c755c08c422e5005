"""Text features shared by the offline embedding and the lexical scorer, for English and Chinese.

A text becomes a bag of weighted features: English word stems and their character 3-5-grams (which
survive typos and inflections), numbers, Chinese character unigrams and bigrams (Chinese has no
spaces, and bigrams approximate words), and bilingual synonym groups, a small domain lexicon
("mould", "mildew", "發霉" and "长霉" all also yield ``s:mold``; "spew", "吐油" and "起霜" yield
``s:bloom``). Simplified characters are mapped to Traditional first, so a Simplified question
matches the Traditional entries; British spellings become American ones ("mould" is "mold"), and
"梅" typed for "霉" (the same sound) is read as "霉" where it cannot mean plum. Question words and
particles yield no features: they say nothing about which fact sheet answers a question, except
"why" (為什麼), which asks for causes and adds the ``s:cause`` group. Irregular verb forms the light
stemmer misses share their base word's feature ("grew" is "grow", "worn" is "wear").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path

# Bump when the features change: it is part of the embedding config, hence of the index's name.
# v5: the "cause" and "harm" groups, "why" adding its group, base forms of irregular verbs.
# v6: the full Simplified -> Traditional character table (data/simplified_chars.tsv), 曲霉 -> 麴霉.
# v7: the "share" group (borrowing, lending and second-hand shoes).
# v9: regional words for rain boots (gumboots, rainboots, welly) and 雨靴, 膠鞋, 水鞋.
# v10: 84消毒液 (mainland China's household bleach, named after its brand) is bleach.
FEATURES_VERSION = 10

_SIMPLIFIED = (
    "霉湿气异脏洁净干脚袜药处预晒阳风温垫柜纸报变颜点绿发长运动胶带内层细养护剂机过敏癣痒闻储纳节汗衬缝线损坏开软弹缓冲击轻"
    "硅这么样办吗会为们还应该问题买旧对后时间几个让没关从经见觉头门车东边实验检断诊疗医状伤孩儿宝肤环条计测标准数据范围设备"
    "电热冻杀灭钟喷雾灯撑织纤维绒鳄质种类区别较适选择优缺刷拭晾吸透网塑链鞋带帮跟楦垫里换洗衣烘碱兰霜纶丝锈毡营养皮层"
)
_TRADITIONAL = (
    "霉濕氣異髒潔淨乾腳襪藥處預曬陽風溫墊櫃紙報變顏點綠發長運動膠帶內層細養護劑機過敏癬癢聞儲納節汗襯縫線損壞開軟彈緩衝擊輕"
    "矽這麼樣辦嗎會為們還應該問題買舊對後時間幾個讓沒關從經見覺頭門車東邊實驗檢斷診療醫狀傷孩兒寶膚環條計測標準數據範圍設備"
    "電熱凍殺滅鐘噴霧燈撐織纖維絨鱷質種類區別較適選擇優缺刷拭晾吸透網塑鏈鞋帶幫跟楦墊裡換洗衣烘鹼蘭霜綸絲鏽氈營養皮層"
)
# Traditional variants that Taiwanese writers use interchangeably.
_VARIANTS = {"黴": "霉", "溼": "濕", "裏": "裡", "臺": "台", "着": "著"}
# The domain's own choices (干 is 乾, dry; 发 is 發); they win over the full table below.
MANUAL_CHARS: dict[str, str] = {**dict(zip(_SIMPLIFIED, _TRADITIONAL, strict=True)), **_VARIANTS}
# Every other Simplified character, from OpenCC's tables (knowledge/make_tables.py regenerates it;
# MANUAL_CHARS is already folded in). Without it a Simplified question kept 来, 与, 双, 脱 ... unmapped:
# 36% of the entries' Chinese titles and questions, written in Simplified, did not map back.
_CHAR_TABLE = Path(__file__).resolve().parent / "data" / "simplified_chars.tsv"


def read_char_table(path: Path) -> dict[str, str]:
    """A generated ``character<TAB>value`` table under ``data/`` (``#`` lines are comments)."""
    table = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("\t")
            table[key] = value
    return table


def _char_map() -> dict[int, str]:
    pairs = {**MANUAL_CHARS, **read_char_table(_CHAR_TABLE)}
    return str.maketrans({k: v for k, v in pairs.items() if k != v})


_CHAR_MAP = _char_map()

EN_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from into onto about as than too very
    i me my mine we our you your he she it its they them their this that these those there here
    is am are was were be been being do does did doing done have has had having can could should would
    will shall may might must need want get gets got getting what which who whom whose when where why how
    any some all each every no not nor only own same just also still yet again ever even please thanks
    thank hi hello ok okay really actually maybe something anything way lot lots much many more most
    tell know let like one ones thing things stuff kind sort bit little make makes made keep""".split()
)
# Particles and pronouns: no feature, and no bigram that contains one ("霉了", "我的").
ZH_PARTICLES = frozenset("的了嗎呢吧啊喔哦呀嘛嗯欸耶哪我你妳他她它們這那個是在和與及或也都就很把被")
# Question and modal words: no unigram, and no bigram made only of them ("怎麼", "可以"), but "性能" stays.
ZH_WEAK = frozenset("什怎為何請問該會要能可以還又讓給得著麼辦些嗎如")
ZH_STOP_BIGRAMS = frozenset("為什 一下 有沒 沒有 因為 所以 如果 需要 知道 一些 有些 的話".split())

# Bilingual synonym groups: any member adds the group's feature, so differently worded questions meet.
SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # group: (English words, Chinese phrases). General footwear/mold vocabulary, not tuned to queries.
    "mold": (("mold", "mould", "moldy", "mouldy", "mildew", "mildewy", "fungus", "fungi", "fungal", "spore", "spores",
              "fuzz", "fuzzy", "fluffy", "mycelium", "hyphae", "penicillium", "aspergillus", "cladosporium", "alternaria",
              "mucor", "rhizopus", "stachybotrys", "eurotium", "fluff", "fur", "furry", "hairy", "whiskers"),
             ("霉", "真菌", "孢子", "菌絲", "白毛", "綠毛", "菌斑", "青黴", "麴菌", "麴黴", "毛毛", "絨毛", "棉絮", "蓬蓬", "長毛")),
    "odor": (("odor", "odour", "smell", "smelly", "stink", "stinky", "musty", "reek", "funk", "funky", "pong", "whiff",
              "stench", "deodorize", "deodorise", "deodorizer", "deodorant", "mvoc", "mvocs"),
             ("臭", "異味", "氣味", "味道", "霉味", "除臭", "揮發性")),
    "shoe": (("shoe", "sneaker", "trainer", "kicks", "boot", "footwear", "sandal", "loafer", "heels", "slipper",
              "oxford", "oxfords", "brogue", "brogues", "clog", "clogs", "cleat", "cleats", "wellies", "wellington",
              "flip", "flops", "moccasin", "espadrille", "espadrilles", "pumps", "flats", "mules", "crocs", "croc", "galoshes",
              "gumboot", "gumboots", "rainboot", "rainboots", "welly", "wellingtons"),
             ("鞋", "靴", "拖鞋", "涼鞋")),
    "sneaker": (("sneaker", "trainer", "kicks", "runners", "running", "gym", "sport", "sports", "athletic", "chucks", "converse"),
                ("球鞋", "運動鞋", "跑鞋", "慢跑鞋", "布鞋")),
    "humidity": (("humid", "humidity", "rh", "damp", "dampness", "moist", "moisture", "wet", "soggy", "soaked", "soaking"),
                 ("濕", "潮", "水氣", "受潮", "回潮", "返潮")),
    "dry": (("dry", "dried", "drying", "dryer", "dehumidifier", "dehumidify", "desiccant", "silica", "tumble",
             "hairdryer", "absorber", "absorbent"),
            ("乾", "除濕", "防潮", "乾燥劑", "矽膠", "烘", "晾", "吸濕")),
    "clean": (("clean", "cleaner", "wash", "wipe", "scrub", "brush", "disinfect", "sanitize", "sanitise", "remove", "rid",
               "launder", "laundry", "kill", "antifungal"),
              ("清潔", "清洗", "洗", "擦", "刷", "消毒", "清除", "去除", "除霉", "去霉", "殺菌", "抗菌")),
    "leather": (("leather", "suede", "nubuck", "hide"), ("皮革", "皮鞋", "麂皮", "翻毛皮", "反毛皮", "真皮", "牛皮", "牛巴戈")),
    "synthetic": (("pleather", "faux", "synthetic", "pu", "pvc", "vegan", "leatherette"),
                  ("合成皮", "人造皮", "仿皮", "皮革")),
    "canvas": (("canvas", "fabric", "textile", "mesh", "knit", "cotton"), ("帆布", "布鞋", "網布", "織物", "布料", "針織")),
    "insole": (("insole", "footbed", "liner", "lining", "sockliner", "orthotic", "orthotics", "insert", "inserts"),
               ("鞋墊", "內裡", "鞋底墊", "腳床", "矯正鞋墊")),
    "sole": (("sole", "outsole", "midsole", "tread"), ("鞋底", "大底", "中底")),
    "closet": (("closet", "cabinet", "cupboard", "wardrobe", "rack", "storage", "store", "stored", "storing", "entryway",
                "hallway", "mudroom", "foyer", "genkan"),
               ("鞋櫃", "衣櫃", "櫃", "收納", "存放", "儲存", "收起來", "玄關")),
    "basement": (("basement", "cellar", "garage", "storeroom", "attic"), ("地下室", "儲藏室", "車庫", "閣樓")),
    "aircon": (("aircon", "ac", "conditioner", "conditioning", "hvac"), ("冷氣", "空調")),
    "health": (("health", "allergy", "allergic", "asthma", "sick", "ill", "infection", "rash", "itch", "itchy",
                "breathe", "breathing", "lung", "lungs", "sneeze", "sneezing", "cough", "coughing", "wheeze", "wheezing",
                "congestion", "congested", "runny", "headache", "headaches", "hives"),
               ("健康", "過敏", "氣喘", "感染", "癢", "皮膚", "呼吸", "咳嗽", "噴嚏", "鼻塞", "流鼻水", "喉嚨", "頭痛", "蕁麻疹")),
    # Who is most at risk (v8): "my toddler", "I'm pregnant", 阿嬤, 化療 meet the high-risk-groups entry's words.
    "vulnerable": (("pregnant", "pregnancy", "baby", "babies", "infant", "infants", "toddler", "toddlers", "newborn",
                    "elderly", "immune", "immunity", "immunocompromised", "chemo", "chemotherapy", "diabetic", "diabetes",
                    "transplant"),
                   ("孕婦", "懷孕", "嬰兒", "嬰幼兒", "寶寶", "幼兒", "老人", "長輩", "長者", "阿嬤", "阿公", "奶奶", "爺爺",
                    "免疫", "化療", "糖尿病")),
    "athletes_foot": (("athlete", "athletes", "tinea", "dermatophyte", "dermatophytes", "toenail", "onychomycosis"),
                      ("香港腳", "足癬", "腳氣", "皮癬菌", "灰指甲", "甲癬")),
    "doctor": (("doctor", "dermatologist", "gp", "clinic", "physician", "podiatrist"), ("醫師", "醫生", "看診", "皮膚科", "就醫")),
    "sweat": (("sweat", "sweaty", "perspiration", "perspire"), ("汗", "流汗")),
    "alcohol": (("alcohol", "ethanol", "isopropyl", "rubbing"), ("酒精",)),
    "vinegar": (("vinegar",), ("醋",)),
    "bleach": (("bleach", "chlorine", "clorox", "hypochlorite"), ("漂白", "氯", "84消毒")),
    "baking_soda": (("baking", "soda", "bicarbonate"), ("小蘇打",)),
    "charcoal": (("charcoal", "carbon", "bamboo"), ("竹炭", "活性碳", "活性炭", "木炭")),
    # Scents that cover a smell (v8): perfume, Febreze, 香水 meet the deodorant-spray entry's "fragrance".
    "fragrance": (("perfume", "perfumed", "fragrance", "fragrant", "scent", "scented", "cologne", "febreze", "freshener",
                   "potpourri"),
                  ("香水", "芳香", "香氛", "噴香", "香味", "掩蓋")),
    # Rubber and foam footwear (v8): Crocs, EVA sandals, 雨鞋, 洞洞鞋.
    "rubber": (("rubber", "eva", "foam", "crocs", "croc", "jelly", "silicone", "galoshes", "gumboot", "gumboots",
                "rainboot", "rainboots", "welly", "wellies", "wellington", "wellingtons"),
               ("橡膠", "雨鞋", "雨靴", "膠鞋", "水鞋", "洞洞鞋", "布希鞋", "發泡", "泡棉", "塑膠")),
    # Places known for damp (v8): "I live in Singapore", 住基隆, 海邊 meet the humid-climates entry.
    "climate": (("tropical", "tropics", "subtropical", "coastal", "seaside", "singapore", "malaysia", "taiwan", "taipei",
                 "keelung", "hong", "kong", "houston", "florida", "hawaii", "bangkok", "manila", "okinawa"),
                ("熱帶", "亞熱帶", "台灣", "台北", "基隆", "香港", "新加坡", "馬來西亞", "沿海", "海邊", "海風", "河口")),
    "protective_gear": (("mask", "gloves", "respirator", "n95", "ppe", "goggles"), ("口罩", "手套", "防護", "護目鏡")),
    "outdoors": (("outdoor", "outdoors", "outside", "balcony", "yard", "garden"), ("戶外", "室外", "陽台", "外面")),
    "sun": (("sun", "sunlight", "sunshine", "uv", "ultraviolet", "sunny"), ("太陽", "日曬", "曬", "陽光", "紫外線")),
    "rain": (("rain", "rainy", "monsoon", "puddle", "storm", "downpour"), ("雨", "梅雨", "颱風")),
    "temperature": (("temperature", "heat", "hot", "warm", "cold", "cool", "degree", "degrees", "celsius", "freeze",
                     "freezer", "freezing"),
                    ("溫度", "熱", "冷", "冰", "凍", "幾度", "氣溫")),
    "duration": (("hour", "hours", "day", "days", "overnight", "week", "weeks", "minute", "minutes"),
                 ("小時", "多久", "幾天", "過夜", "天內", "分鐘")),
    # Wearing shoes someone else has worn (v7): "borrow my brother's sneakers", "lend to my roommate", 借穿.
    "share": (("share", "shared", "sharing", "borrow", "borrowed", "borrowing", "lend", "lent", "lending", "swap",
               "secondhand", "rental", "rented"),
              ("共用", "借穿", "借來", "借別人", "穿別人", "二手", "租借", "交換穿")),
    "discard": (("throw", "discard", "toss", "bin", "trash", "salvage", "salvageable", "ruined"),
                ("丟", "丟掉", "報廢", "還能穿", "換新")),
    "leak": (("leak", "leaking", "leaky", "seep", "seeping", "pipe", "plumbing"), ("漏水", "滲水", "水管", "壁癌")),
    "glue": (("glue", "adhesive", "cement", "bonded"), ("膠", "黏膠", "膠水")),
    "laces": (("lace", "laces", "shoelace", "shoelaces"), ("鞋帶",)),
    "shoe_tree": (("tree", "trees", "shaper", "stuffing"), ("鞋楦", "鞋撐")),
    "cabinet_air": (("ventilate", "ventilation", "airflow", "airing", "fan", "breeze"), ("通風", "電風扇", "風扇", "吹風")),
    # Symptoms, look-alikes and effects named by the entries' topics (v4), so that a user's word for
    # them ("spew", "起霜", "tide mark") meets the entry's word ("fat bloom", "吐油", "鹽漬").
    "bloom": (("bloom", "blooming", "spew", "spue", "spues", "haze", "hazy"), ("吐油", "起霜", "噴霜", "析出", "泛白", "白霧")),
    "salt": (("salt", "salty", "slush", "tide"), ("鹽", "水痕", "融雪")),
    "verdigris": (("verdigris", "eyelet", "eyelets", "grommet", "grommets", "buckle", "buckles", "brass", "copper"),
                  ("銅綠", "銅鏽", "鞋眼", "鞋孔", "扣環", "金屬扣")),
    "hydrolysis": (("hydrolysis", "crumble", "crumbling", "crumbly", "disintegrate", "disintegrating", "flake", "flakes",
                    "flaking", "peel", "peeling"),
                   ("水解", "碎裂", "掉渣", "脫皮", "剝落", "粉化")),
    "yellowing": (("yellow", "yellowed", "yellowing", "oxidation", "oxidise", "oxidize", "oxidized"), ("變黃", "泛黃", "發黃", "氧化")),
    "stain": (("stain", "stained", "mark", "marks", "spot", "spots", "blotch", "blotches", "speckle", "speckles", "dots",
               "discolor", "discolour", "discoloration", "discolouration", "fade", "faded", "fading", "blotchy"),
              ("漬", "污漬", "痕", "斑", "印子", "黑點", "變色", "褪色", "掉色", "不均")),
    "crack": (("crack", "cracked", "cracking", "brittle", "stiff", "stiffen"), ("龜裂", "裂", "變硬", "硬化")),
    "condensation": (("condensation", "condense", "condensing", "dew"), ("結露", "凝結", "反潮", "露點", "水珠")),
    "flood": (("flood", "flooded", "flooding", "floodwater", "typhoon"), ("淹水", "泡水", "颱風")),
    "cushion": (("cushion", "cushioning", "bounce", "bouncy", "springy"), ("避震", "緩震", "回彈")),
    "grip": (("grip", "traction", "slippery", "slip", "slipping", "skid"), ("抓地", "打滑", "很滑")),
    "fit": (("shrink", "shrank", "shrunk", "warp", "warped", "warping", "tight", "deform", "deformed"), ("縮水", "變形", "變小", "夾腳")),
    "waterproof": (("waterproof", "repellent", "repellency", "dwr", "goretex", "gore", "membrane"), ("防水", "撥水", "潑水", "透氣膜")),
    "conditioner": (("conditioner", "conditioning", "mink", "cream", "balm"), ("保養油", "皮革油", "貂油", "上油", "保養乳")),
    "hygrometer": (("hygrometer", "hygrometers"), ("濕度計",)),
    # What kind of answer is asked for (v5): "why" wants causes, which the entries that explain them
    # name in their titles and example questions ("Why shoes are an ideal place for mold"). "why" is
    # a stopword (no word feature), but it still adds this group.
    "cause": (("why", "cause", "causes", "caused", "causing", "reason", "reasons"),
              ("為什麼", "為何", "原因", "怎麼會", "成因")),
    # "Is it dangerous to ..." meets the entries that ask "is it harmful to ..." (v5).
    "harm": (("harm", "harmful", "harmless", "danger", "dangerous", "hazard", "hazardous", "toxic", "poisonous", "unsafe"),
             ("危險", "有害", "有毒", "傷害", "危害")),
}

# British spellings become American ones before stemming, so "mould" and "mold" are one word.
_BRITISH = {
    "mould": "mold", "moulds": "molds", "mouldy": "moldy", "moulding": "molding", "mouldering": "moldering",
    "odour": "odor", "odours": "odors", "colour": "color", "colours": "colors", "coloured": "colored",
    "discolour": "discolor", "discoloured": "discolored", "discolouration": "discoloration", "fibre": "fiber",
    "fibres": "fibers", "grey": "gray", "greyish": "grayish", "deodorise": "deodorize", "deodoriser": "deodorizer",
    "deodorised": "deodorized", "sanitise": "sanitize", "sanitiser": "sanitizer", "neutralise": "neutralize",
    "centre": "center", "litre": "liter", "litres": "liters", "metre": "meter",
}
# Regional words for a shoe the entries name otherwise (v9): UK/AU/NZ "gumboots" are rain boots.
_REGIONAL = {"gumboots": "boots", "gumboot": "boot", "rainboots": "boots", "rainboot": "boot"}
# Irregular verbs share their base word's feature (v5): "grew back" is "grows back", "worn" is "wear".
# The light stemmer cannot find these; the character n-grams still come from the word as written.
# (Adjectives stay words of their own: "moldy" becoming "mold" let "moldy cheese" meet the one entry
# that mentions cheese, as foot odour's smell, and pass as a question about shoes.)
_DERIVED = {
    "grew": "grow", "grown": "grow", "regrew": "regrow", "regrown": "regrow", "came": "come", "went": "go",
    "gone": "go", "wore": "wear", "worn": "wear", "froze": "freeze", "frozen": "freeze", "threw": "throw",
    "thrown": "throw", "bought": "buy", "caught": "catch", "ran": "run", "dried": "dry",
    "shrank": "shrink", "shrunk": "shrink", "stuck": "stick", "stank": "stink", "stunk": "stink",
}

_TOKEN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z]+|\d+(?:\.\d+)?")
_CJK_RUN_RE = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# Weight of one occurrence of each feature kind (the prefix before ":").
KIND_WEIGHTS: dict[str, float] = {
    "w": 1.0,  # English word stem
    "c": 0.08,  # English character n-gram (a 6-letter word has ~15 of them)
    "n": 0.7,  # number
    "u": 0.4,  # Chinese character
    "b": 1.0,  # Chinese character bigram
    "s": 0.7,  # synonym group
}


# The commonest slip of phonetic (Zhuyin) input in this domain: 梅 (méi, as in 梅雨) typed for 霉 (méi,
# mold). Only where it cannot mean plum: after 發/長, or before 菌/味/斑.
_MEI_TYPO_RE = re.compile(r"(?<=[發長])梅|梅(?=[菌味斑])")


# Simplified 曲霉 (Aspergillus) is 麴菌/麴黴 in Taiwan; 曲 alone stays (music, curve), so only before 霉.
_QU_RE = re.compile(r"曲(?=霉)")


def normalize(text: str) -> str:
    """Width-fold, lowercase, map Simplified/variant characters to Traditional (and 發梅 to 發霉, 曲霉 to 麴霉)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _QU_RE.sub("麴", _MEI_TYPO_RE.sub("霉", text.translate(_CHAR_MAP)))


_VOWELS = frozenset("aeiou")


def stem(word: str) -> str:
    """A light English stemmer (Porter's steps 1a/1b): plurals, -ed, -ing; n-grams cover the rest."""
    if len(word) <= 3:
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("es") and word[-3] in "sxz" or word.endswith(("ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        base = word[: -len(suffix)]
        if word.endswith(suffix) and len(base) >= 3 and any(c in "aeiouy" for c in base):
            if base.endswith(("at", "bl", "iz")):
                return base + "e"
            if len(base) >= 2 and base[-1] == base[-2] and base[-1] not in "lsz":
                return base[:-1]
            if len(base) == 3 and base[0] not in _VOWELS and base[1] in _VOWELS and base[2] not in "aeiouwxy":
                return base + "e"
            return base
    return word


@lru_cache(maxsize=1)
def _synonym_index() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    by_word: dict[str, set[str]] = {}
    phrases: list[tuple[str, str]] = []
    for group, (words, zh_phrases) in SYNONYMS.items():
        for word in words:
            by_word.setdefault(word, set()).add(group)
            by_word.setdefault(stem(word), set()).add(group)
        phrases.extend((normalize(p), group) for p in zh_phrases)
    return by_word, phrases


# Conversational wrapping ("explain it simply pls", "help me understand:", "講簡單一點啦") says how to
# answer, not what about. It is left out of the query before ranking and the answerability model, where
# words no entry explains are evidence of an out-of-domain question.
CHAT_FILLER_EN = frozenset(
    """explain explained explaining simply simple pls plz please help understand advice expert experts say
    says said need needs question questions wondering wonder curious quick quickly brief briefly answer info
    information guys anyone someone hey asking ask""".split()
)
CHAT_FILLER_ZH = (
    "講簡單一點", "說簡單一點", "簡單一點", "簡單講", "簡單說", "請問一下", "請問", "幫我", "解釋一下", "解釋",
    "說明一下", "想問一下", "想問", "問一下", "一下", "專家", "告訴我", "拜託", "謝謝", "好嗎",
)
_FILLER_WORD_RE = re.compile(r"[A-Za-z]+")


def strip_chat_filler(text: str) -> str:
    """``text`` without conversational filler (see :data:`CHAT_FILLER_EN`); the text itself if nothing else is left."""
    stripped = text
    for phrase in CHAT_FILLER_ZH:
        stripped = stripped.replace(phrase, " ")
    stripped = _FILLER_WORD_RE.sub(lambda m: " " if m.group(0).lower() in CHAT_FILLER_EN else m.group(0), stripped)
    return stripped if stripped.strip(" \t\n,.:;!?，。：；！？、") else text


def features(text: str) -> Counter[str]:
    """Feature counts of ``text``; the feature's kind is its prefix (see :data:`KIND_WEIGHTS`)."""
    norm = normalize(text)
    by_word, phrases = _synonym_index()
    bag: Counter[str] = Counter()
    groups: set[str] = set()
    for token in _TOKEN_RE.findall(norm):
        if _CJK_RUN_RE.match(token):
            _cjk_features(token, bag)
        elif token[0].isdigit():
            bag["n:" + token] += 1
        elif token in EN_STOPWORDS:
            groups.update(by_word.get(token, ()))  # "why": no word feature, but its group
        elif len(token) > 1:
            groups.update(by_word.get(token, ()))
            token = _REGIONAL.get(token, _BRITISH.get(token, token))
            stemmed = stem(_DERIVED.get(token, token))
            bag["w:" + stemmed] += 1
            bag.update("c:" + gram for gram in _chargrams(token))
            groups.update(by_word.get(token, ()))
            groups.update(by_word.get(stemmed, ()))
    for phrase, group in phrases:
        if phrase in norm:
            groups.add(group)
    bag.update("s:" + group for group in groups)
    return bag


def weighted(text: str) -> dict[str, float]:
    """Features weighted by kind, with sublinear term frequency (1 + log tf) so repeats don't dominate."""
    return {f: KIND_WEIGHTS[f[0]] * (1.0 + math.log(n)) for f, n in features(text).items()}


def _chargrams(word: str) -> list[str]:
    padded = f"<{word}>"
    if len(padded) <= 3:
        return [padded]
    return [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]


def _cjk_features(run: str, bag: Counter[str]) -> None:
    for ch in run:
        if ch not in ZH_PARTICLES and ch not in ZH_WEAK:
            bag["u:" + ch] += 1
    for i in range(len(run) - 1):
        pair = run[i : i + 2]
        if pair in ZH_STOP_BIGRAMS or pair[0] in ZH_PARTICLES or pair[1] in ZH_PARTICLES:
            continue
        if pair[0] in ZH_WEAK and pair[1] in ZH_WEAK:
            continue
        bag["b:" + pair] += 1


# The knowledge base's domain is where two kinds of words meet: footwear, and mold, damp, smell or
# care. Either alone is common outside it (a leather sofa's mold, running-shoe advice).
FOOTWEAR_GROUPS = ("shoe", "sneaker", "insole", "sole", "laces", "shoe_tree")
CARE_GROUPS = ("mold", "odor", "humidity", "dry", "clean", "sweat", "athletes_foot", "leak",
               # what users see and ask about before they say "mold": marks, look-alikes, damage
               "bloom", "salt", "verdigris", "hydrolysis", "yellowing", "stain", "crack", "condensation", "flood",
               # hygiene (v8): wearing someone else's shoes is the athlete's-foot question
               "share")


def domain_flags(bag: Counter[str]) -> tuple[float, float]:
    """(1.0 if the feature bag mentions footwear, 1.0 if it mentions mold/damp/smell/care), else 0.0s."""
    footwear = any(bag.get("s:" + group) for group in FOOTWEAR_GROUPS)
    care = any(bag.get("s:" + group) for group in CARE_GROUPS)
    return float(footwear), float(care)

"""The route classifier: which kind of shoe-mold question this is, or whether it is out of scope.

Routes: diagnosis (is it mold? what is this mark or smell?), prevention (storage, humidity,
rotation), treatment (cleaning, killing, drying, salvaging), general (causes, materials, damage,
health effects), out_of_scope (anything not about shoes and mold/damp/smell/care, and every
prompt-injection attempt). ``health`` flags questions about symptoms on the user's body.

No LLM is involved: scope and injections are decided by rules; the route comes from weighted
English/Chinese phrase patterns combined with a small multinomial naive Bayes over character and
word n-grams trained on :mod:`shoeagent.agent.router_data`. Simplified Chinese is mapped to
Traditional first, so one set of patterns serves both scripts, and one-slip misspellings of the
domain words the rules key on are undone (:func:`correct_typos`). The phrases of the question's last
clause with a route phrase, its request, count twice: "black dots on the insole, do I need to toss
them?" describes a diagnosis and asks for a treatment. The rules refuse outright only on
evidence (an injection, another object, shopping or fit) or when no domain signal at all is present;
questions about the domain's topics that name neither shoes nor mold are left to the classifier and,
in the agent, to retrieval relevance. ``python -m shoeagent.agent.router_eval`` measures scope.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

log = logging.getLogger(__name__)

Route = Literal["diagnosis", "prevention", "treatment", "general", "out_of_scope"]
ROUTES: tuple[Route, ...] = ("diagnosis", "prevention", "treatment", "general", "out_of_scope")
IN_DOMAIN: tuple[Route, ...] = ("diagnosis", "prevention", "treatment", "general")


@dataclass
class RouteDecision:
    route: Route
    health: bool
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    confirmed: bool = False
    """The scope rules found the domain itself (shoes or feet plus mold, damp, smell, care or symptoms; or
    mold with no other object), not just the classifier: retrieval may then trust weaker matches."""


# --------------------------------------------------------------------------------------------
# Normalisation: NFKC, lower case, Simplified -> Traditional for the characters questions use.
# --------------------------------------------------------------------------------------------

_S2T_PAIRS = (
    "发發湿濕气氣晒曬处處预預么麼办辦样樣柜櫃垫墊干乾净淨过過痒癢脚腳红紅肤膚蓝藍绿綠黄黃点點绒絨盐鹽渍漬"
    "边邊缘緣这這为為还還会會种種类類响響伤傷坏壞损損对對说說让讓该該吗嗎长長时時间間个個觉覺闻聞难難"
    "盖蓋风風机機剂劑硅矽胶膠轮輪换換储儲环環温溫热熱杀殺洁潔苏蘇报報纸紙丢丟双雙带帶里裡内內头頭线線"
    "缝縫开開脱脫织織网網运運动動凉涼袜襪异異闷悶癣癬体體儿兒医醫药藥疗療诊診听聽写寫码碼饭飯墙牆车車"
    "税稅级級员員统統设設计計视視频頻戏戲乐樂买買卖賣价價钱錢号號现現实實际際变變几幾两兩后後从從没沒"
    "无無问問题題请請帮幫谢謝们們话話语語识識记記录錄删刪执執规規则則电電脑腦护護养養状狀层層结結颗顆"
    "软軟尘塵迹跡块塊条條黴霉释釋浅淺滤濾喷噴雾霧蜡蠟阴陰凤鳳台臺湾灣门門窗窗厕廁浴浴简簡扫掃虫蟲险險"
    "舍捨适適赖賴应應该該选選择擇错錯误誤坚堅虽雖湿濕鲜鮮质質链鏈爱愛经經历歷晾晾烘烘暖暖炉爐扇扇"
)
_S2T = {ord(_S2T_PAIRS[i]): _S2T_PAIRS[i + 1] for i in range(0, len(_S2T_PAIRS), 2)}
# Taiwan writes both 黴 and 霉 for mold; one form keeps the patterns simple.
_S2T[ord("黴")] = "霉"
_S2T[ord("台")] = "台"
_S2T[ord("溼")] = "濕"  # the variant form Taiwan also writes
_PHRASES_S2T = (("面包", "麵包"), ("面条", "麵條"))


def normalize(text: str) -> str:
    """NFKC, lower case, Simplified -> Traditional (domain vocabulary), 黴 -> 霉, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    for simplified, traditional in _PHRASES_S2T:
        text = text.replace(simplified, traditional)
    text = text.translate(_S2T)
    text = text.replace("’", "'")
    return re.sub(r"\s+", " ", text).strip()


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Misspelt domain words: one slip of the keyboard ("sneekers", "mldy", "sotrage") should not hide a
# shoe-mold question from the scope rules. Only the words the rules depend on are corrected.
# --------------------------------------------------------------------------------------------

_TYPO_VOCABULARY = tuple(
    """shoe shoes sneaker sneakers boots trainers footwear insole insoles footbed footbeds midsole midsoles outsole
    outsoles leather leathers suede nubuck canvas mold moldy mould mouldy mildew mildewed musty fungus fungal spores
    smell smells smelly odour damp moisture humidity humid soaked sweaty cleaning cleaner cleaners storage storing
    drying dehumidifier hygrometer desiccant desiccants silica conditioner stitching welt lining basement basements
    cabinet closet vinegar bleach alcohol freezer aspergillus penicillium padding waterproof repellent mildewy
    athlete stink stinks stinky""".split()
)
# Real words one slip away from a vocabulary word; they are never "corrected" (checked against a 21k-word
# English list when the vocabulary was chosen).
_NOT_TYPOS = frozenset(
    """adding amp beach boost boosts bots breach cabinets cleaned cleansing clearer clearing close closed closer closes
    closest conditioned conditioners crying dam dining dying feather feathers freeze freezes frying hoe humility
    leach leaning liking linking living mell milder mining mod mol must old pores pudding scores scoring sell sells
    she shells sho shores shoves silic sink sinks snoring soared sores speaker speakers spells spokes sports staring
    sticks sticky stings stores string sued sweats switching trainees trainer trying weather wel wet""".split()
)


def _one_slip(word: str) -> set[str]:
    """Transpositions and deletions (4+ letters), insertions (5+), substitutions (6+) of ``word``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = len(word)
    out = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(n - 1)}
    out |= {word[:i] + word[i + 1:] for i in range(n)}
    if n >= 5:
        out |= {word[:i] + c + word[i:] for i in range(n + 1) for c in letters}
    if n >= 6:
        out |= {word[:i] + c + word[i + 1:] for i in range(n) for c in letters}
    return out


@lru_cache(maxsize=1)
def _typo_table() -> dict[str, str]:
    vocabulary = set(_TYPO_VOCABULARY)
    table: dict[str, str] = {}
    ambiguous: set[str] = set()
    for word in _TYPO_VOCABULARY:
        for slip in _one_slip(word):
            if len(slip) < 3 or slip in vocabulary or slip in _NOT_TYPOS:
                continue
            if slip in table and table[slip] != word:
                ambiguous.add(slip)
            table[slip] = word
    return {slip: word for slip, word in table.items() if slip not in ambiguous}


_ASCII_WORD = re.compile(r"[a-z]{3,}")
# Common input-method slips (same sound, wrong character) in the few words the rules key on.
_ZH_SLIPS = (
    (re.compile(r"香港(角|叫|繳)"), "香港腳"),
    (re.compile(r"(几|機|幾)皮"), "麂皮"),
    (re.compile(r"(?<![鞋])(斜|協|邪)(?=子|櫃|墊|底|盒)"), "鞋"),
    (re.compile(r"(?<=[發長])(梅|眉|媒)|(梅|眉|媒)(?=菌|斑|味)"), "霉"),
)


def correct_typos(text: str) -> str:
    """Undo one-slip misspellings of the domain words the scope rules depend on (normalised text in, out)."""
    table = _typo_table()
    text = _ASCII_WORD.sub(lambda m: table.get(m.group(), m.group()), text)
    for pattern, replacement in _ZH_SLIPS:
        text = pattern.sub(replacement, text)
    return text


# --------------------------------------------------------------------------------------------
# Scope rules
# --------------------------------------------------------------------------------------------

_INJECTION = _rx(
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,30}\b(instructions?|prompts?|rules?|guidelines|context|above)\b"
    r"|\b(system|hidden|initial|developer|original) (prompt|message|instructions?)\b"
    r"|\b(print|show|reveal|repeat|output|display|leak|dump)\b.{0,20}\b(prompt|instructions|configuration|secrets?)\b"
    r"|\byou are now\b|\bjailbreak|\bdeveloper mode\b|\bdan mode\b|\bpretend (to be|you are)\b"
    r"|\brm -rf\b|\bsudo\b|/etc/(passwd|shadow|hosts)|\bos\.system\b|\bsubprocess\b|\beval\(|\bexec\("
    r"|\b(curl|wget|chmod|bash|powershell|cmd\.exe)\b|\bdrop table\b|\b(api[_ ]?key|password|token)s?\b"
    r"|\b(run|execute)\b.{0,20}\b(command|script|code|shell|this)\b|\bcat /"
    r"|忽略.{0,10}(指示|指令|規則|提示|設定|要求)|無視.{0,10}(指示|指令|規則)|忘記.{0,10}(指示|指令|規則|設定)"
    r"|系統提示|提示詞|系統指令|(顯示|印出|輸出|告訴我|洩漏).{0,8}(提示|指令|設定|密碼)"
    r"|執行.{0,10}(指令|命令|程式|腳本)|越獄|你現在是|扮演|密碼|讀取.{0,6}檔案"
)

_SHOE = _rx(
    r"\b(shoes?|sneakers?|trainers?|boots?|footwear|insoles?|sandals?|loafers?|slippers?|flip[- ]?flops?|kicks"
    r"|oxfords?|brogues?|clogs?|crocs|wellies|wellys?|wellingtons?|gumboots?|rainboots?|galoshes|cleats|outsoles?|midsoles?|shoelaces?|laces"
    r"|heels|moccasins?|espadrilles?|footbeds?|uppers?|birkenstocks?|stilettos?"
    # Parts and accessories that only footwear has.
    r"|welts?|toe ?box(es)?|toe ?caps?|heel ?counters?|heel ?tabs?|heel ?cups?|vamps?|shoe ?trees?|shoe ?horns?|sock ?liners?"
    r"|(?<!dover )(?<!lemon )soles?(?! (reason|purpose|owner|trader|proprietor|survivor|responsibility))(?! of (my|your|his|her|the) feet)|treads?"
    r"|(tongue|collar)s? (and|&|or) (the )?(tongue|collar)s?)\b"
    r"|鞋|靴|屐|沿條|腳床|中底|大底"
)
_MOLD = _rx(
    r"\b(mold\w*|mould\w*|mildew\w*|fung(us|i|al)|musty|spores?|hyphae|mycel\w*|aspergillus|penicillium"
    r"|cladosporium|mvocs?)\b|霉|菌|孢子|微生物揮發性"
)
_DAMP_SMELL = _rx(
    r"\b(damp\w*|wet|humid\w*|moist\w*|soaked|drenched|condensation|dew|rh|rain\w*|sweat(y|s|ing|ed)?|smell\w*"
    r"|odou?rs?|stink\w*|funky|reek\w*|waterlogged|soggy|monsoon)\b|濕|潮(?!流|牌)|水氣|結露|露點|雨|汗|泡水|味|臭"
)
# Everyday care verbs: on their own they fit cars, sofas and dishes as well as shoes.
_CARE = _rx(
    r"\b(clean\w*|wash\w*|care|stor(e|ed|ing|age)|dry|drying|dried|condition\w*|polish\w*|brush\w*|protect\w*"
    r"|disinfect\w*|deodori[sz]\w*|spots?|stains?|marks?|prevent\w*|vinegar|alcohol|bleach\w*|baking soda"
    r"|hydrogen peroxide|tea tree|enzyme|detergents?|soap)\b"
    r"|洗|清|保養|收納|收起來|收進|收好|存放|保存|乾|擦|刷|消毒|除臭|斑|漬|預防|防止|酒精|醋|漂白|小蘇打|雙氧水|茶樹|清潔劑|肥皂"
)
_SMELL = _rx(r"\b(smell\w*|odou?rs?|stink\w*|funky|reek\w*|musty)\b|味|臭")
_MATERIAL = _rx(
    r"\b(leathers?|canvas|mesh|knit|rubber|eva|pu|gore-?tex|patent leather|full[- ]grain)\b"
    r"|皮革|真皮|皮件|帆布|網布|針織|橡膠|合成皮"
)
# Words that, even alone, belong to looking after shoes against damp and mold: drying and storage aids,
# proofing and leather care products, the leathers mold likes best, leather spew and salt lines.
_CARE_STRONG = _rx(
    r"\b(desiccants?|silica gel|silica (packets?|beads?|sachets?)|hygrometers?|dehumidif\w*"
    r"|(moisture|damp) absorbers?|calcium chloride|damprid|water[- ]?repellen\w*|dwr|protector sprays?"
    r"|(leather )?conditioners?|saddle soap|mink oil|spew|spue|salt (stains?|lines?|marks?)|tide ?lines?"
    r"|suede|nubuck|(every|each) wear|between wears)\b"
    r"|乾燥劑|矽膠|除濕|濕度計|氯化鈣|竹炭包|撥水|防水噴霧|保養油|貂油|起霜|白霜|吐油|吐霜|鹽漬|回南天"
    r"|麂皮|牛巴戈|反毛皮|每次穿完"
)
# Storage and drying habits: a hint, like a material or a place, that needs a second one.
_CARE_WEAK = _rx(
    r"\b(charcoal|cedar|waterproof\w*|bloom(ing)?|ventilat\w*|airflow|air circulation|fans?|rotat\w*|pairs?"
    r"|off[- ]season|breathable|airtight|sealed|stuff(ed|ing)|silica|sun[- ]?dry\w*"
    r"|sunlight|uv)\b|活性碳|竹炭|防水|噴霧|通風|電風扇|輪流|輪替|換季|透氣|密封|穿完|塞報紙|塞紙|曬|太陽"
)
# Parts that shoes share with bags and clothes, and the damage damp does to them: a hint, not proof.
_PARTS = _rx(
    r"\b(stitch\w*|seams?|linings?|padding|foam|tongues?|collars?|soles?|glue|adhesive|grip|hydroly[sz]\w*"
    r"|delaminat\w*|eyelets?|crack\w*|peel\w*|flak\w*|stiff\w*|harden\w*|brittle|discolou?r\w*|fad(e|ed|es|ing)"
    r"|warp\w*|crumbl\w*)\b"
    r"|縫線|車線|內襯|內裡|襯墊|泡棉|海綿|鞋底|抓地|水解|脫膠|開膠|龜裂|裂開|脫皮|變硬|變脆|褪色|變色|變形|碎裂"
)
_PLACE = _rx(
    r"\b(basements?|cellars?|garages?|closets?|wardrobes?|cupboards?|cabinets?|storerooms?|store ?rooms?|lockers?"
    r"|entryway|hallway|genkan)\b|地下室|儲藏室|倉庫|車庫|玄關|櫥櫃|置物櫃|鞋櫃|衣帽間"
)
_FOOT_HEALTH = _rx(
    r"\b(athlete'?s foot|tinea|toenail fungus|nail fungus|fungal nails?|foot fungus|dermatophytes?|smelly feet)\b"
    r"|香港腳|足癬|腳氣|灰指甲|甲癬|皮癬菌|腳臭"
)
_FOOT = _rx(r"\b(foot|feet|toes?|toenails?|soles? of my)\b|腳|足|趾")
# Things other than footwear that get moldy, damp or cleaned, and topics far from the domain.
_OFF_DOMAIN = _rx(
    # The home, furniture and textiles.
    r"\b(walls?|ceilings?|floors?|bathrooms?|bath ?tubs?|showers?|tiles?|grout|caulk\w*|sinks?|toilets?"
    r"|faucets?"
    r"|windows?|window ?sills?|carpets?|rugs?|sofas?|couch(es)?|furniture|cushions?|mattress(es)?|beds?|pillows?"
    r"|blankets?|clothes|clothing|shirts?|sweaters?|jumpers?|jeans|trousers|pants|dress(es)?|jackets?|coats?"
    r"|gloves?|hats?|scarf|scarves|towels?|curtains?|house|home|attic|crawl ?space|drywall|hvac|vents?"
    r"|basement walls?|bedrooms?|nursery|greenhouses?"
    # Vehicles, kitchen and food, household objects, bags and gear.
    r"|cars?|car seats?|vehicles?|tires?|tyres?|bikes?|bicycles?|boats?|tents?|yoga mats?|mats?|saddles?"
    r"|horses?"
    r"|bread|food|cheese|fruits?|jam|vegetables?|meat|fridge|refrigerator|freezer door|kitchen|rice|coffee"
    r"|tea ?pot|wine (cellars?|fridges?)|pans?|pots?|dishes"
    r"|cutting boards?|chopping boards?|bottles?|cups?|mugs?|lunch ?box(es)?"
    r"|toothbrush\w*|gaskets?|detergent drawers?|plants?|houseplants?|soil|garden|aquarium|pool|air ?con\w*"
    r"|handbags?|bags?|backpacks?|rucksacks?|purses?|wallets?|belts?|watch ?straps?|suitcases?|luggage|books?"
    r"|paper|wood(en)?|cameras?|lens(es)?|phones?|laptops?|guitars?|violins?|pianos?|humidors?|cigars?|toys?"
    r"|glasses|spectacles"
    # Pets and the body outside the feet.
    r"|dogs?|cats?|pets?|paws?|bab(y|ies)|teeth|hair|face|breath|mouth|armpits?|underarms?|sleep\w*"
    # Far away: money, weather, programming, cooking.
    r"|recipe|taxe?s?|stocks?|weather|forecast|python|javascript|code)\b"
    r"|\bwill it rain\b|\brain (today|tomorrow|this (week|weekend))\b"
    r"|牆|天花板|浴室|浴缸|浴簾|廁所|馬桶|磁磚|矽利康|水槽|洗手台|窗|地毯|沙發|坐墊|椅墊|家具|床|枕頭|被子|棉被"
    r"|床單|被單|衣服|衣櫃|外套|夾克|毛衣|襯衫|褲子|裙子|洋裝|內衣|制服|手套|帽子|圍巾|毛巾|浴巾|抹布|窗簾|房子|屋"
    r"|臥室|汽車|車|帳篷|瑜珈墊|馬鞍|麵包|吐司|土司|饅頭|餅乾|蛋糕|剩菜|食物|食品|起司|水果|果醬|蔬菜|冰箱|廚房|米|咖啡"
    r"|紅酒|電鍋|砧板|奶瓶|奶嘴"
    r"|牙刷|杯子|便當盒|膠條|洗衣槽|植物|盆栽|冷氣|包包|皮包|背包|皮夾|皮帶|行李箱|帆布袋|手提袋|購物袋|環保袋"
    r"|睡袋|書|木頭|相機|鏡頭|手機|電腦|吉他|雪茄|眼鏡|玩具|狗|貓|寵物|嬰兒|寶寶|口臭|嘴巴|腋下|睡覺|睡眠"
    r"|報稅|股票|食譜|程式|天氣|下雨嗎|會下雨"
)
# Phrases of the domain that contain an off-domain word ("stuff them with paper", "the four things mold needs:
# moisture, food, warmth"); they are blanked before _OFF_DOMAIN looks for another object.
_NOT_AN_OBJECT = _rx(
    r"\b(moisture|water|warmth|oxygen|nutrients?),? (and )?food\b|\bfood,? (and )?(moisture|water|warmth)\b"
    r"|\bfood (source|supply)\b|\b(mold|mould|fung(us|i))('s)? food\b"
    r"|\bpaper (stuffing|towels?)\b|\b(tissue|kraft|acid[- ]free|packing|news) ?paper\b"
    r"|\bstuff\w*( \w+){0,3} paper\b"
    r"|\bcedar ?wood\b|\bsaddle soap\b|\bwooden (shoe )?trees?\b|\bhorse ?hair brush\w*"
    r"|\b(charcoal|dust|cotton|canvas|breathable|plastic|zip ?lock|ziploc|tea|silica( gel)?|desiccant|storage"
    r"|drawstring|freezer|shoe) bags?\b|\bcoffee grounds\b"
    r"|\b(in(side)?( the)? (house|home)|indoors?) or (out(side|doors)?)\b|\bout(side|doors)? or in(side|doors)?\b"
    r"|\b(by|near|next to|beside) (the |a |an )?(open )?window\b"
    r"|\b(towel[- ]dry|(in|with) (a |clean |dry )?towels?)\b"
    r"|\b(smells?|smelling|stinks?|stinking|reeks?) like (a )?(wet )?\w+"
    r"|車線|車縫|車工|腳床|鞋床|毫米|米色|玉米|說明書|(水分|濕氣|溫度|養分)、?食物|食物、?(水分|溫度|濕氣)"
    r"|霉菌的食物"
)
_SHOPPING = _rx(
    r"\b(release|releases|drop date|price|prices|cost|buy|buying|purchase|size|sizing|fit|fits|fitting|brands?"
    r"|recommend|sale|discount|resell|resale|authentic|fake(?! leather)|marathon|best .* for running|coupon"
    r"|store hours"
    r"|trend\w*|fashion\w*|outfits?|style|history|invented|return|refund|exchange|warranty|tight|loose|pinch\w*"
    r"|break (them |it |these )?in|breaking in|stretch\w*|wide|width|narrow|arch support|flat feet|orthotics?"
    r"|lace|lacing|tie|tying|heel slip|standing all day|comfortable|comfort"
    r"|best (\w+ )?(shoes?|sneakers?|boots?) for"
    r"|new (\w+ )?(shoes|sneakers|boots|trainers|heels)|beginners?|good (\w+ )?(shoes|sneakers|boots) for)\b"
    r"|發售|價格|多少錢|買|尺寸|幾號|品牌|牌子|推薦|折扣|轉賣|真假|馬拉松|流行|潮流|穿搭|搭配|歷史|由來|退貨|退換"
    r"|夾腳|穿開|撐大|太緊|太鬆|楦頭|新手|綁鞋帶|鞋帶怎麼綁|久站|站著|幾公分|扁平足|足弓"
)
# Buying, with or without shoes named: prices, brands, deals.
_BUYING = _rx(
    r"\b(release date|drop date|prices?|cost|buy|buying|purchase|brands?|sale|discount|coupon|cheap\w*)\b"
    r"|價格|多少錢|買|品牌|牌子|折扣|便宜"
)
# Rubbing injuries from new or tight shoes are about fit, not about mold or damp.
_FRICTION = _rx(r"\b(blisters?|calluses?|corns?|bunions?|chafing)\b|水泡|磨腳|起泡|雞眼|拇指外翻")

_HEALTH = _rx(
    r"\b(itch\w*|rash\w*|cough\w*|wheez\w*|asthma\w*|allerg\w*|sneez\w*|respiratory|lungs?|skin|infect\w*"
    r"|athlete'?s foot|tinea|toenail fungus|nail fungus|fungal nails?|foot fungus|blisters?|headaches?|sick|illness"
    r"|dermatitis|eczema|immune|immunocompromised|pregnan\w*|dermatophytes?|irritat\w*|health\w*|harmful"
    r"|dangerous|toxic|doctor|diabet\w*|throat|trouble breathing|shortness of breath|breathing problems|runny nose|stuffy nose"
    r"|dizz\w*|light-?headed|nause\w*|vomit\w*|poison\w*)\b"
    r"|癢|紅疹|疹|咳|氣喘|哮喘|過敏|噴嚏|鼻塞|鼻水|流鼻水|喉嚨|呼吸|皮膚|香港腳|足癬|腳氣|灰指甲|甲癬|感染|頭痛|(?:起|長|有|冒|小)水泡|生病"
    r"|頭暈|暈眩|噁心|想吐|嘔吐|中毒|胸悶"
    r"|不舒服|健康|有害|有毒|毒性|危害|對身體|糖尿病|醫生|醫師|皮癬菌|紅腫|發炎|免疫|懷孕|(腳|皮膚|腳趾|腳底).{0,3}脫皮"
)


# --------------------------------------------------------------------------------------------
# Route patterns: (pattern, weight), matched on normalised text.
# --------------------------------------------------------------------------------------------

_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "diagnosis": (
        (_rx(r"\b(is|are) (this|it|that|these|those|there|they) (really |just |actually |definitely |some |also )?"
             r"(mold|mould|mildew|fung\w*|moldy|mouldy)\b"
             r"|\b(is|are) (the|this|these|those) [\w\s'-]{0,40}\b(mold|mould|mildew|moldy|mouldy)\s*\?"), 3.0),
        (_rx(r"\b(mold|mould|mildew)\b.{0,25}\bor\b|\bor (just )?(mold|mould|mildew|dirt|salt|dust|stains?)\b"), 2.5),
        (_rx(r"\bhow (can|do|would|should|could) (i|you|we) (tell|know|check|identify|spot|recogni[sz]e|distinguish|be sure)"
             r"|\bhow to (tell|know|check|identify|spot|distinguish)|tell the difference|difference between|\bsigns? (of|that)"
             r"|\bhow do i know\b"), 3.0),
        (_rx(r"\bwhat (is|are|'s)( this| these| that| those| the)?\b.{0,40}\b(spots?|marks?|stains?|dots?|stuff|patch(es)?"
             r"|film|haze|powder|residue|lines?|fuzz|coating|growth|layer)\b"), 3.0),
        (_rx(r"\b(white|green|black|blue|grey|gray|yellow|pink|whitish|greenish|orange)\b.{0,25}\b(spots?|marks?|stuff"
             r"|film|haze|powder|fuzz|dots?|patch(es)?|residue|lines?|crust|bloom|coating|layer|specks?)\b"), 2.0),
        (_rx(r"\b(fuzzy|furry|powdery|hairy|crusty|chalky|waxy|speckled|cloudy)\b"), 1.5),
        (_rx(r"\b(salt stains?|salt lines?|salt marks?|tide lines?|bloom|spew|spue)\b"), 2.0),
        (_rx(r"\bwhy (does|do|is|are|would)\b.{0,40}\b(smell\w*|stink\w*|reek\w*)"), 2.0),
        (_rx(r"\b(smells?|smelling|stinks?) (musty|like|moldy|mouldy|damp|earthy|funny|weird|off|sour|strange)"), 1.5),
        (_rx(r"\b(looks?|look) like\b|\bdiagnos\w*|\bidentif\w*|\binspect\w*|\bhidden\b|\bmagnif\w*"), 1.5),
    ),
    "prevention": (
        (_rx(r"\b(prevent\w*|avoid\w*|stop\w*|keep\w*|protect\w*)\b.{0,40}\b(mold\w*|mould\w*|mildew\w*|musty|damp|moisture"
             r"|getting|going|from|growing)"), 2.5),
        (_rx(r"\b(store|storing|storage|stored|put(ting)? away|pack(ing)?|keep them)\b"), 2.0),
        (_rx(r"\b(closets?|cupboards?|cabinets?|wardrobes?|shoe racks?|shoe ?box(es)?|plastic (box|bag|bin|container)s?"
             r"|containers?|entryway|genkan)\b"), 1.0),
        (_rx(r"\b(silica gel|desiccants?|dehumidif\w*|moisture absorbers?|damprid|cedar|shoe trees?|charcoal|ventilat\w*"
             r"|air circulation|airflow|fan)\b"), 1.5),
        (_rx(r"\b(rotate|rotating|rotation|alternat\w*|every day|daily)\b"), 2.0),
        (_rx(r"\b(rainy season|monsoon|humid (climate|weather|season|country|apartment|room|place|summer)|off[- ]season"
             r"|long[- ]term|over the (summer|winter)|for months|for the season)\b"), 1.5),
        (_rx(r"\bwhat (humidity|rh|level)\b|\b(ideal|best|right|recommended|safe) (humidity|rh|level)\b|\bhumidity should\b"
             r"|\bhow humid\b"), 2.0),
        (_rx(r"\b(never|again|coming back|come back|from happening|recur\w*)\b"), 1.0),
        (_rx(r"\b(waterproof\w*|protector spray|water[- ]repellent)\b"), 1.0),
        (_rx(r"\b(condensation|dew ?point|boxes|bags|keep (my|your|the|our) \w+ in)\b"), 1.5),
        (_rx(r"\bagainst (the |an |a )?(outside |exterior |outer |cold )?wall\b|\bwhere (should|do|can) i (put|keep|store)\b"
             r"|\bmo(u)?ld[- ](free|proof|resistant)\b|\bhelp (to )?keep\b"), 2.0),
    ),
    "treatment": (
        (_rx(r"\b(remove|removing|get rid|clean\w*|kill\w*|wash\w*|wipe|wiping|scrub\w*|disinfect\w*|saniti[sz]\w*"
             r"|treat|treating|fix|salvage|save|rescue|restore|deodori[sz]\w*|neutrali[sz]e|get (it|the \w+|them) (off|out))\b"), 2.0),
        (_rx(r"\b(already|got|gotten|have|has|found|there'?s|there is|are|is|went|turned|grew|growing)\b.{0,12}\b(moldy|mouldy|mildewed|mildewy|mold|mould)\b"), 1.0),
        (_rx(r"\b(vinegar|alcohol|isopropyl|bleach|baking soda|hydrogen peroxide|tea tree|uv|sunlight|sun|freezer|freeze"
             r"|washing machine|dryer|hair ?dryer|heater|radiator|newspaper|oven|microwave|enzyme|spray)\b"), 1.5),
        (_rx(r"\b(dry|drying|dried|dry out)\b"), 1.5),
        (_rx(r"\b(soaked|drenched|wet|flooded|rained on|puddle|waterlogged|sopping|soggy)\b"), 1.5),
        (_rx(r"\b(throw (them |it |these )?(away|out)|toss|bin them|still wear|wear (them|it) again|worth saving|replace)\b"), 2.0),
        (_rx(r"\b(smell|odou?r|stink)\b.{0,20}\b(out|off|away|rid)\b"), 1.5),
        (_rx(r"\bwhat (should|do|can) i do\b|\bhow do i deal\b|\bwhat now\b"), 2.0),
    ),
    "general": (
        (_rx(r"\bwhy (do|does|did|are|is|would|can)\b.{0,40}\b(get|go|turn|become|grow|develop)\w*\b.{0,10}\b(mold\w*|mould\w*|mildew\w*)"), 2.5),
        (_rx(r"\b(what causes|cause of|causes|caused by|reason|reasons)\b"), 2.0),
        (_rx(r"\bwhat (actually |exactly |really )?(is|are) (actually |exactly )?(mold|mould|mildew|mvocs?|fungi|fungus|spores?|dermatophytes?)\b"), 2.5),
        (_rx(r"\b(what|which) (kind|kinds|type|types|species|sort) of\b"), 2.0),
        (_rx(r"\b(aspergillus|penicillium|cladosporium|species|spores?|hyphae|mycel\w*|mvocs?|dermatophytes?)\b"), 1.5),
        (_rx(r"\b(more|less|most|least) (prone|likely|susceptible|resistant|vulnerable)\b|\bprone to\b"
             r"|\b(which|what) (materials?|shoes?|fabrics?|types of shoes)\b"), 2.5),
        (_rx(r"\b(damage\w*|ruin\w*|weaken\w*|degrad\w*|crack\w*|glue|adhesive|delaminat\w*|separat\w*|break down|rot\w*"
             r"|perform\w*|cushion\w*|grip|lifespan|last longer|brittle|stiff|coming (loose|apart|off)|falling apart)\b"), 2.0),
        (_rx(r"\b(related to|linked to|connected to|because of|caused by|producing|comes? from)\b"
             r"|\b(moldy|mouldy) (shoes|sneakers|boots|trainers)\b.{0,30}\bsmell"), 2.0),
        (_rx(r"\bwill the cold\b|\b(cold|winter) (weather|temperatures?|months|room|garage|car)\b"
             r"|\bfreezing (garage|car|room|weather|temperatures?|winter)\b|\bdoes (cold|heat) \w+"), 2.5),
        (_rx(r"\bhow risky\b|\bis (that|this|it) (too )?(risky|dangerous|bad)\b"
             r"|\bhow (worried|concerned|serious|dangerous|harmful)\b|\bshould (i|we) be (worried|concerned|freaking out)\b"), 2.0),
        (_rx(r"\b(health|harmful|dangerous|toxic|sick|risks?|affect\w*|effects?|contagious|spread)\b"), 1.5),
        (_rx(r"\bhow (fast|quickly|long|soon)\b|\bwhat temperature|\bdoes (cold|heat|freezing|winter)\b|\bgrow best\b"
             r"|\bfeed on\b|\bneed to grow\b"), 2.0),
        (_rx(r"\b(athlete'?s foot|tinea|foot fungus)\b"), 1.5),
        (_rx(r"\b(mold|mould) risk\b|\brisk of (mold|mould)\b|\b(will|would|could) (they|it|my \w+) (get |go )?(mold|mould)"), 2.0),
        (_rx(r"\b(itch\w*|rash\w*|cough\w*|wheez\w*|asthma\w*|allerg\w*|sneez\w*|infect\w*|sick|headaches?|dizz\w*|nause\w*|skin"
             r"|runny nose|stuffy nose|throat|eyes)\b"), 2.5),
        (_rx(r"\bstart(s|ing)? (to )?(grow\w*|go\w*|get\w*|mo(u)?ld\w*)\b|\bthe cause\b|\bfrom (the )?mo(u)?ld\b"), 2.5),
    ),
}

_PATTERNS_ZH: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    "diagnosis": (
        (_rx(r"是不是.{0,8}霉|是.{0,4}霉.{0,3}(嗎|呢|\?)|霉.{0,6}還是|還是.{0,8}(霉|髒|鹽|污)|是霉嗎|算發霉"), 3.0),
        (_rx(r"(怎麼|如何|怎樣|要怎麼)(判斷|分辨|辨別|區分|知道|看出|確認|檢查|辨識)|判斷|分辨|辨別|區分|辨識|差別|差異"), 3.0),
        (_rx(r"(白|綠|黑|灰|藍|黃|粉紅|紅|橘)色?的?.{0,4}(斑|點|痕|東西|霧|粉|毛|線|圈|膜|霜|塊)"), 2.0),
        (_rx(r"毛茸茸|毛毛|粉粉|粉狀|絨毛|白霜|起霜|泛白|白霧|鹽漬|鹽霜|水痕|吐油|析出|斑點|黑點|白點"), 2.0),
        (_rx(r"什麼東西|是什麼|那是什麼|這是什麼|什麼來的|怎麼回事"), 2.0),
        (_rx(r"為什麼.{0,12}(味|臭)|怎麼會.{0,8}(味|臭)|(霉味|怪味|潮味|悶味|土味|酸味)"), 1.5),
        (_rx(r"徵兆|跡象|看起來|長什麼樣|樣子"), 1.5),
    ),
    "prevention": (
        (_rx(r"防霉|防潮|預防|避免|防止|不(要|會|再)再?(發|長)霉|才不會(再)?(發|長|受|潮|濕|臭)|以免|不讓|不再"), 2.5),
        (_rx(r"收納|存放|保存|收起來|收鞋|放置|長期不穿|換季|收藏|怎麼放"), 2.0),
        (_rx(r"鞋櫃|鞋盒|鞋架|塑膠(袋|盒|箱)|收納箱|玄關"), 1.0),
        (_rx(r"除濕|乾燥劑|矽膠|竹炭|活性碳|通風|雪松|鞋楦|防潮箱|電風扇"), 1.5),
        (_rx(r"輪流|輪替|交替|每天都?穿|天天穿|同一雙"), 2.5),
        (_rx(r"靠.{0,2}牆|外牆|放在哪|擺在哪|放哪裡|擺放位置"), 2.0),
        (_rx(r"梅雨|雨季|回南天|潮濕的(地方|季節|天氣|環境)|夏天|冬天|長時間"), 1.0),
        (_rx(r"濕度.{0,8}(控制|保持|維持|應該|適合|理想|設)|(控制|保持|維持|設)在.{0,4}多少"), 2.0),
        (_rx(r"防水噴霧|防水"), 1.0),
        (_rx(r"結露|露點|反潮|凝結"), 1.5),
    ),
    "treatment": (
        (_rx(r"去除|清除|除霉|去霉|清理|清潔|清洗|洗|擦|刷掉|殺菌|殺死|殺|消毒|處理|救|去掉|弄掉|修復|除臭|去味|消除|(怎麼|如何|要|該)清(?!楚)|清乾淨|清掉"), 2.0),
        (_rx(r"怎麼辦|該怎麼做|怎麼處理|要怎麼處理"), 2.0),
        (_rx(r"酒精|白醋|醋|漂白|小蘇打|雙氧水|茶樹|紫外線|曬|冷凍|洗衣機|烘乾機|吹風機|暖氣|電暖器|報紙|烤箱|微波"), 1.5),
        (_rx(r"弄乾|晾乾|烘乾|吹乾|風乾|陰乾|怎麼乾|乾得|變乾|乾掉"), 1.5),
        (_rx(r"淋濕|濕透|泡水|淋雨|濕掉|弄濕|踩到水|積水|進水|濕濕"), 1.5),
        (_rx(r"還能穿|丟掉|要丟|該丟|丟了|扔掉|能不能穿|可以穿嗎|換掉|更換|(要|該|需要|要不要|需不需要)換"), 2.0),
        (_rx(r"已經.{0,4}(發|長)霉|(發|長)霉了"), 1.0),
    ),
    "general": (
        (_rx(r"為什麼.{0,10}(發霉|長霉|霉)|為何.{0,8}霉|(發霉|長霉)的原因|原因|造成|是因為|由於|有關係|有關|關聯|相關|害的|害我|引起|導致"), 2.5),
        (_rx(r"什麼是|是什麼菌|黴菌是|霉菌是|什麼菌"), 2.0),
        (_rx(r"哪一?種|哪些|種類|類型"), 1.5),
        (_rx(r"材質.{0,8}(容易|不容易|比較|最)|最容易.{0,4}(發霉|長霉)"), 2.0),
        (_rx(r"(容易|不容易|比較不|較易).{0,4}(發霉|長霉)"), 1.0),
        (_rx(r"影響|損壞|傷害|損害|破壞|龜裂|脫膠|開膠|變硬|性能|壽命|抓地|避震|腐蝕|變質|變脆"), 1.5),
        (_rx(r"健康|有害|危害|身體|毒|危險|風險|傳染"), 1.5),
        (_rx(r"多久|多快|幾度|什麼溫度|溫度多少|會死|怕冷|靠什麼"), 1.5),
        (_rx(r"香港腳|足癬|皮癬菌|微生物揮發性"), 1.5),
        (_rx(r"會不會.{0,4}(發|長)霉|會(發|長)霉嗎|發霉風險|霉的風險"), 2.0),
        (_rx(r"癢|紅疹|疹|咳|氣喘|哮喘|過敏|噴嚏|鼻塞|鼻水|喉嚨|眼睛|感染|頭痛|頭暈|噁心|生病|不舒服"), 2.5),
        (_rx(r"超過多少|多少以上|以上.{0,6}(發霉|長霉)|開始(發霉|長霉)"), 2.5),
    ),
}


# --------------------------------------------------------------------------------------------
# Naive Bayes over n-grams
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_STOP = frozenset("a an the my i is are do does to of in on it and or for with me you your can how what".split())


def _features(text: str) -> list[str]:
    words = [w.rstrip("s") if len(w) > 3 else w for w in _WORD.findall(text)]
    feats = [f"w:{w}" for w in words if w not in _STOP]
    feats += [f"b:{a}_{b}" for a, b in zip(words, words[1:])]
    for run in _CJK_RUN.findall(text):
        feats += [f"c:{ch}" for ch in run]
        feats += [f"c:{run[i:i + 2]}" for i in range(len(run) - 1)]
        feats += [f"c:{run[i:i + 3]}" for i in range(len(run) - 2)]
    return feats


@dataclass
class _NaiveBayes:
    priors: dict[str, float]
    likelihood: dict[str, dict[str, float]]
    unseen: dict[str, float]
    vocabulary: frozenset[str]

    def probabilities(self, text: str) -> dict[str, float]:
        feats = [f for f in _features(text) if f in self.vocabulary]
        logs = {
            label: self.priors[label] + sum(self.likelihood[label].get(f, self.unseen[label]) for f in feats)
            for label in self.priors
        }
        # Naive Bayes is badly over-confident on short texts; a temperature that grows with the number
        # of (correlated, overlapping) n-gram features keeps its probabilities usable next to the keywords.
        temperature = max(1.0, math.sqrt(len(feats)))
        top = max(logs.values())
        exp = {label: math.exp((value - top) / temperature) for label, value in logs.items()}
        total = sum(exp.values())
        return {label: value / total for label, value in exp.items()}


KB_QUESTION_WEIGHT = 0.3
"""How much one of the knowledge base's example questions counts in training, against one of
:mod:`~shoeagent.agent.router_data`'s hand-labelled examples (see :func:`_knowledge_examples`)."""

_STAGE_ROUTE: dict[str, Route] = {"basics": "general", "diagnosis": "diagnosis", "prevention": "prevention", "treatment": "treatment"}


def _knowledge_examples() -> list[tuple[str, Route]]:
    """The knowledge entries' example questions, each labelled with its entry's stage as a route.

    About 2,200 questions in both languages, written the way users ask, against the router's 226
    hand-labelled ones. But an entry's stage is not always each of its questions' route (a diagnosis
    entry on athlete's foot asks "itchy peeling skin between my toes, is it athlete's foot", while the
    evaluation sets call "athlete's foot or mold from my shoes? when should I see a doctor?" general), so they count for less
    (:data:`KB_QUESTION_WEIGHT`; 0.3 routed 8 more of the 405 tuning-set questions right than none,
    1.0 only 2 more). Without a loadable knowledge base the router trains on its own examples.
    """
    from shoeagent.knowledge.entries import KnowledgeFileError, packaged_entries

    try:
        entries = packaged_entries()
    except KnowledgeFileError as exc:
        log.warning("the router trains without the knowledge base's example questions: %s", exc)
        return []
    return [(q, _STAGE_ROUTE[e.stage]) for e in entries for lang in sorted(e.questions) for q in e.questions[lang]]


@lru_cache(maxsize=1)
def _model() -> _NaiveBayes:
    from shoeagent.agent.router_data import EXAMPLES

    alpha = 0.3
    counts: dict[str, Counter[str]] = {route: Counter() for route in ROUTES}
    docs: Counter[str] = Counter()
    for examples, weight in ((EXAMPLES, 1.0), (_knowledge_examples(), KB_QUESTION_WEIGHT)):
        for text, route in examples:
            docs[route] += weight
            for feature, count in Counter(_features(normalize(text))).items():
                counts[route][feature] += count * weight
    vocabulary = frozenset(f for counter in counts.values() for f in counter)
    total_docs = sum(docs.values())
    priors, likelihood, unseen = {}, {}, {}
    for route in ROUTES:
        total = sum(counts[route].values()) + alpha * len(vocabulary)
        priors[route] = math.log(docs[route] / total_docs)
        likelihood[route] = {f: math.log((c + alpha) / total) for f, c in counts[route].items()}
        unseen[route] = math.log(alpha / total)
    return _NaiveBayes(priors, likelihood, unseen, vocabulary)


def _keyword_scores(text: str) -> dict[str, float]:
    scores = {route: 0.0 for route in IN_DOMAIN}
    for table in (_PATTERNS, _PATTERNS_ZH):
        for route, patterns in table.items():
            scores[route] += sum(weight for pattern, weight in patterns if pattern.search(text))
    return scores


# Where a question's request starts: the end of a sentence or clause, or (in English, where people often
# leave punctuation out) a question opener such as "how do i" or "can i".
_CLAUSE_BREAK = re.compile(
    r"[.?!。？！;；\n，,]+"
    r"|\s*[\U0001F300-\U0001FAFF\u2600-\u27BF]+\s*"  # an emoji ends a clause (長了一層白毛😭 要怎麼清)
    r"|(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])"  # so does a space between Chinese words (發霉 可以泡嗎)
    r"|(?<!\bhow)(?<!\bwhat)(?<!\bwhy)(?<!\bwhere)\s+"
    r"(?=(?:how (?:do|can|should|to|would)|what (?:should|do|can|now)|(?:can|should|could|do|does|must) (?:i|we|you)"
    r"|is (?:it|this|that|there)|are (?:they|these|those)|any (?:tips|ideas|way|advice))\b)"
)
ASK_WEIGHT = 1.0
"""Extra weight of the request's own phrases (see :func:`_ask_clause`) over the whole question's."""


def _ask_clause(text: str) -> str:
    """The last clause of a question that says what the user wants ("… black dots on the insole. do i need
    to toss them", "是發霉嗎？要換鞋墊嗎"); "" for a question of one clause.

    People describe first and ask last, and the description is full of the words of another route
    (colours and spots read as diagnosis). The last clause with a route phrase of its own is the request.
    """
    clauses = [c.strip() for c in _CLAUSE_BREAK.split(text) if c and c.strip()]
    if len(clauses) < 2:
        return ""
    for clause in reversed(clauses):
        if any(_keyword_scores(clause).values()):
            return clause
    return ""


def request(question: str) -> tuple[str, str] | None:
    """The request of a question of several clauses and the route its own phrases point to, or None.

    "鞋墊有黑黑的點點，是發霉嗎？要換鞋墊嗎" gives ("要換鞋墊嗎", "treatment"). See :func:`_ask_clause`.
    """
    ask = _ask_clause(correct_typos(normalize(question)))
    if not ask:
        return None
    scores = _keyword_scores(ask)
    return ask, max(scores, key=lambda route: scores[route])


def _route_keywords(text: str) -> dict[str, float]:
    """Phrase scores of the whole question plus, weighted by ASK_WEIGHT, those of its request."""
    scores = _keyword_scores(text)
    ask = _ask_clause(text)
    if ask:
        for route, value in _keyword_scores(ask).items():
            scores[route] += ASK_WEIGHT * value
    return scores


def _scope(text: str) -> tuple[bool | None, str]:
    """True: in scope; False: out of scope; None: undecided by rules (the classifier decides).

    ``text`` is normalised and typo-corrected. A hard refusal needs positive evidence that the question is
    elsewhere (an injection, another object, shopping) or the absence of every domain signal; a question
    that only talks about the domain's topics (leather care, drying, desiccants, seams, smell) without
    naming shoes or mold is left to the classifier, and after it to retrieval relevance.
    """
    if _INJECTION.search(text):
        return False, "prompt-injection or command attempt"
    if _FOOT_HEALTH.search(text):
        return True, "foot fungus / athlete's foot"
    shoe = bool(_SHOE.search(text))
    mold = bool(_MOLD.search(text))
    damp_smell = bool(_DAMP_SMELL.search(text))
    care_strong = bool(_CARE_STRONG.search(text))
    health = bool(_HEALTH.search(_FRICTION.sub(" ", text)))
    if shoe:
        if mold or damp_smell or care_strong or health or _CARE.search(text):
            return True, "shoes + mold/damp/smell/care"
        if _SHOPPING.search(text) or _FRICTION.search(text):
            return False, "shoes but not mold or care (shopping, fit, releases)"
        return None, "shoes without a mold/care topic"
    if _OFF_DOMAIN.search(_NOT_AN_OBJECT.sub(" ", text)):
        return False, "about something other than shoes"
    if _BUYING.search(text) and not mold:
        return False, "shopping, not shoes and mold"
    if mold:
        if _PLACE.search(text):
            return None, "mold in a room or cupboard, no shoes named"
        return True, "mold without another object"
    if _FOOT.search(text) and (health or damp_smell):
        return True, "feet + symptoms or smell"
    hints = [bool(_DAMP_SMELL.search(_SMELL.sub(" ", text)))]
    hints += [bool(rx.search(text)) for rx in (_SMELL, _CARE, _CARE_WEAK, _MATERIAL, _PARTS, _PLACE)]
    if care_strong or sum(hints) >= 2:
        return None, "shoe-care topic without shoes or mold named"
    return False, "not about shoes or mold"


SHOE_WORD = {"en": "shoes", "zh": "鞋子"}
_SHOE_MATERIAL = _rx(r"\b(suede|nubuck)\b|麂皮|牛巴戈")


def with_shoe_said(question: str, lang: str) -> str | None:
    """``question`` with a word for shoes added, for a second search; None unless it names a shoe
    material (leather, suede, canvas, …) and no footwear.

    The knowledge base's relevance model learnt that questions name their shoes: "發霉會讓皮革龜裂嗎"
    scores 0.08 alone and 0.98 with 鞋子 added. When these rules have placed a question in the domain
    and it names what shoes are made of, the agent searches again this way before it says nothing is
    relevant. A question that names neither (a musty washing machine, a baseball cap) is not helped:
    with the shoe said, too much of the domain matches it.
    """
    text = correct_typos(normalize(question))
    if _SHOE.search(text) or not (_MATERIAL.search(text) or _SHOE_MATERIAL.search(text)):
        return None
    return f"{question} {SHOE_WORD.get(lang, SHOE_WORD['en'])}"


def classify(question: str) -> RouteDecision:
    """Route a question (en, Traditional or Simplified Chinese) without any LLM."""
    text = correct_typos(normalize(question))
    in_scope, reason = _scope(text) if text else (False, "empty question")
    if in_scope is False:
        scores = {route: 0.0 for route in ROUTES} | {"out_of_scope": 1.0}
        return RouteDecision("out_of_scope", False, 1.0, scores, reason)
    nb = _model().probabilities(text)
    if in_scope is None and nb["out_of_scope"] >= 0.5:
        scores = {route: round(nb[route], 3) for route in ROUTES}
        return RouteDecision("out_of_scope", False, round(nb["out_of_scope"], 3), scores, reason)

    keywords = _route_keywords(text)
    nb_in = {route: nb[route] for route in IN_DOMAIN}
    nb_total = sum(nb_in.values()) or 1.0
    kw_total = sum(keywords.values())
    combined = {}
    for route in IN_DOMAIN:
        nb_share = nb_in[route] / nb_total
        # Keywords carry most of the weight when any fired; the classifier alone decides otherwise.
        combined[route] = 0.4 * nb_share + 0.6 * keywords[route] / kw_total if kw_total else nb_share
    route, top = max(combined.items(), key=lambda kv: kv[1])
    # The winner's share of the combined evidence, discounted when the scope rules were unsure.
    confidence = round(top if in_scope else top * (1 - nb["out_of_scope"]), 3)
    scores = {r: round(v, 3) for r, v in combined.items()} | {"out_of_scope": round(nb["out_of_scope"], 3)}
    health = bool(_HEALTH.search(text))
    return RouteDecision(route, health, confidence, scores, reason, confirmed=in_scope is True)

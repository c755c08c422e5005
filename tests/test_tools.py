"""The deterministic domain tools: thresholds that agree with the knowledge base, ranges, bad input."""

from __future__ import annotations

import math

import pytest

from shoeagent.agent import tools
from shoeagent.agent.tools import (
    TOOL_NAMES,
    ToolResult,
    diagnose_symptoms,
    dew_point,
    drying_plan,
    find_materials,
    material_care,
    mold_risk,
    normalize_material,
    run_tool,
)


def test_tool_names_match_the_contract():
    assert TOOL_NAMES == ("mold_risk", "dew_point", "material_care", "drying_plan", "diagnose_symptoms")


# ---------------------------------------------------------------------------------------------- mold_risk


@pytest.mark.parametrize(
    ("temperature", "humidity", "hours", "level"),
    [
        (22, 45, 0, "low"),
        (22, 60, 0, "low"),  # at the 50-60% storage level
        (25, 65, 0, "moderate"),  # above 60-70%
        (25, 70, 0, "high"),  # sustained 70-90% is high risk
        (25, 80, 0, "high"),
        (25, 90, 0, "high"),
        (25, 95, 0, "very_high"),
        (25, 80, 48, "very_high"),  # wet for 48 h: visible growth within 24-48 hours
        (25, 40, 24, "high"),  # damp shoes are at risk even in dry air
        (25, 40, 6, "moderate"),
        (5, 85, 0, "moderate"),  # cold slows mold
        (5, 85, 48, "high"),
        (45, 85, 0, "moderate"),  # hot also slows it
    ],
)
def test_mold_risk_levels(temperature, humidity, hours, level):
    result = mold_risk(temperature, humidity, hours)
    assert result.error is None
    assert result.result["level"] == level


def test_mold_risk_reasons_use_the_agreed_numbers_in_both_languages():
    result = mold_risk(25, 80)
    assert "70-90%" in result.text_en and "20-30°C" in result.text_en and "50-60%" in result.text_en
    assert "70-90%" in result.text_zh and "20-30°C" in result.text_zh and "50-60%" in result.text_zh
    assert result.text_en.startswith("Tool mold_risk:")
    assert result.result["level_zh"] == "高"
    assert len(result.result["reasons_en"]) == len(result.result["reasons_zh"]) == 2


@pytest.mark.parametrize(("humidity", "level"), [(50, "low"), (65, "moderate"), (85, "high"), (95, "very_high")])
def test_mold_risk_from_humidity_alone_says_the_temperature_is_unknown(humidity, level):
    result = mold_risk(None, humidity)
    assert result.error is None and result.result["level"] == level
    assert result.result["temperature_c"] is None
    assert result.text_en.startswith(f"Tool mold_risk: at {humidity}% RH the mold risk is")
    assert "no temperature was given" in result.text_en and "20-30°C" in result.text_en
    assert f"在 相對濕度 {humidity}% 下" in result.text_zh and "未提供溫度" in result.text_zh


def test_mold_risk_from_humidity_alone_still_counts_hours_damp():
    assert mold_risk(None, 50, 48).result["level"] == "very_high"


def test_cold_reason_says_cold_does_not_kill_mold():
    result = mold_risk(2, 80)
    assert any("does not kill" in reason for reason in result.result["reasons_en"])
    assert any("不會殺死" in reason for reason in result.result["reasons_zh"])


def test_damp_hours_mention_the_24_48_hour_window():
    result = mold_risk(25, 50, 30)
    assert "24-48 hours" in result.text_en
    assert "24-48 小時" in result.text_zh


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"temperature_c": -300, "relative_humidity": 50}, "temperature_c"),
        ({"temperature_c": 71, "relative_humidity": 50}, "temperature_c"),
        ({"temperature_c": 20, "relative_humidity": 250}, "relative_humidity"),
        ({"temperature_c": 20, "relative_humidity": -1}, "relative_humidity"),
        ({"temperature_c": 20, "relative_humidity": 50, "hours_damp": -5}, "hours_damp"),
        ({"temperature_c": 20, "relative_humidity": 50, "hours_damp": 24 * 365 + 1}, "hours_damp"),
        ({"temperature_c": "warm", "relative_humidity": 50}, "temperature_c"),
        ({"temperature_c": 20}, "relative_humidity"),
    ],
)
def test_mold_risk_rejects_absurd_values_without_raising(args, field):
    result = run_tool("mold_risk", args)
    assert isinstance(result, ToolResult)
    assert result.error is not None and field in result.error
    assert result.result == {}
    assert "could not run" in result.text_en and "無法執行" in result.text_zh


def test_mold_risk_range_boundaries_are_accepted():
    assert mold_risk(-50, 0).error is None
    assert mold_risk(70, 100, 24 * 365).error is None
    assert "between -50 and 70" in mold_risk(-50.1, 50).error


def test_numbers_given_as_strings_are_accepted_and_extra_keys_ignored():
    result = run_tool("mold_risk", {"temperature_c": "25", "relative_humidity": "80", "unit": "C"})
    assert result.error is None
    assert result.args == {"temperature_c": 25.0, "relative_humidity": 80.0, "hours_damp": 0.0}


# ---------------------------------------------------------------------------------------------- dew_point


def test_dew_point_magnus_values():
    # Reference values of the Magnus formula (Sonntag coefficients).
    assert dew_point(25, 80).result["dew_point_c"] == pytest.approx(21.3, abs=0.1)
    assert dew_point(20, 50).result["dew_point_c"] == pytest.approx(9.3, abs=0.1)
    assert dew_point(30, 100).result["dew_point_c"] == pytest.approx(30.0, abs=0.05)
    assert tools.dew_point_c(0, 100) == pytest.approx(0.0, abs=1e-9)


def test_dew_point_condensation_advice_follows_the_spread():
    near = dew_point(22, 95)
    far = dew_point(22, 30)
    assert near.result["condensation_risk"] == "high"
    assert far.result["condensation_risk"] == "low"
    assert "condensation" in near.text_en and "結露" in near.text_zh
    assert near.result["spread_c"] < 3 < far.result["spread_c"]


def test_dew_point_rejects_zero_humidity_and_absurd_temperature():
    assert "relative_humidity" in dew_point(20, 0).error
    assert "temperature_c" in dew_point(500, 50).error


# ---------------------------------------------------------------------------------------------- materials


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("leather", "leather"), ("Genuine Leather", "leather"), ("皮革", "leather"), ("真皮", "leather"),
        ("suede", "suede"), ("nubuck", "suede"), ("麂皮", "suede"), ("反毛皮", "suede"), ("麂皮绒", "suede"),
        ("canvas", "canvas"), ("cotton", "canvas"), ("帆布", "canvas"),
        ("mesh", "knit"), ("knit", "knit"), ("網布", "knit"), ("針織", "knit"), ("网布", "knit"),
        ("rubber", "rubber"), ("EVA", "rubber"), ("橡膠", "rubber"),
        ("PU", "synthetic"), ("faux leather", "synthetic"), ("合成皮", "synthetic"), ("ＰＵ", "synthetic"),
    ],
)
def test_material_names_in_both_languages(name, key):
    assert normalize_material(name) == key


def test_find_materials_prefers_the_longest_leftmost_name():
    assert find_materials("麂皮鞋") == ["suede"]  # not 皮鞋 (leather)
    assert find_materials("synthetic leather boots and canvas") == ["synthetic", "canvas"]
    assert find_materials("I pumped up the tyres") == []  # "pu" only as a word


def test_material_care_steps_are_bilingual_and_safe_for_leather():
    result = material_care("真皮")
    assert result.error is None
    assert result.result["material"] == "leather"
    assert len(result.result["steps_en"]) == len(result.result["steps_zh"]) >= 3
    joined = " ".join(result.result["steps_en"])
    assert "70% alcohol" in joined and "1:1" in joined and "Never use bleach on leather" in joined
    assert "漂白水" in "".join(result.result["steps_zh"])


def test_every_material_has_care_and_drying_advice():
    for key in tools.MATERIALS:
        assert material_care(key).error is None
        for wetness in ("damp", "wet", "soaked"):
            assert drying_plan(key, wetness).error is None


def test_wool_is_a_material_and_socks_are_not_the_shoe():
    from shoeagent.agent.tools import find_materials

    assert find_materials("my allbirds wool runners got moldy") == ["wool"]
    assert find_materials("羊毛鞋潮濕的時候要怎麼保養") == ["wool"]
    assert find_materials("sheepskin boots smell musty") == ["wool"]
    # "felt" is mostly a verb, and socks' material is not the shoe's.
    assert find_materials("I felt dizzy after cleaning them") == []
    assert find_materials("do wool socks help against mold?") == []
    assert find_materials("穿羊毛襪配帆布鞋") == ["canvas"]
    assert find_materials("cotton socks in canvas shoes") == ["canvas"]
    result = material_care("毛氈")
    assert result.error is None and result.result["material"] == "wool"
    assert "50-60%" in " ".join(result.result["steps_en"]) and "衣蛾" in "".join(result.result["steps_zh"])
    assert "tumble dryer" in " ".join(drying_plan("wool", "soaked").result["steps_en"])


def test_unknown_material_is_an_error_that_lists_the_supported_ones():
    result = material_care("unobtainium")
    assert result.error is not None
    assert "unknown material" in result.error and "suede/nubuck" in result.error
    assert run_tool("material_care", {"material": ""}).error is not None


# ---------------------------------------------------------------------------------------------- drying_plan


def test_drying_plan_never_puts_leather_on_direct_heat():
    result = drying_plan("leather", "soaked")
    text = " ".join(result.result["steps_en"])
    assert "Never put leather on a heater" in text
    assert "24-48 hours" in text
    assert result.result["steps_en"][0].startswith("Rinse off mud")  # soaked shoes start with a rinse
    assert "暖氣" in "".join(result.result["steps_zh"])
    assert "24-48 hours" in result.text_en and "24-48 小時" in result.text_zh  # the summary keeps the key fact


def test_drying_time_grows_with_wetness_and_material():
    damp = drying_plan("canvas", "damp").result["estimated_hours"]
    soaked = drying_plan("canvas", "soaked").result["estimated_hours"]
    mesh = drying_plan("mesh", "soaked").result["estimated_hours"]
    leather = drying_plan("leather", "soaked").result["estimated_hours"]
    assert damp[1] < soaked[0]
    assert mesh[1] < leather[1]


@pytest.mark.parametrize(("word", "level"), [("濕透", "soaked"), ("微濕", "damp"), ("淋濕", "wet"), ("SOAKED", "soaked")])
def test_wetness_accepts_chinese_words(word, level):
    assert drying_plan("帆布", word).result["wetness"] == level


def test_drying_plan_rejects_unknown_wetness():
    result = drying_plan("leather", "very")
    assert result.error is not None and "wetness" in result.error


# ---------------------------------------------------------------------------------------------- diagnose


def test_diagnose_fuzzy_green_musty_is_mold():
    result = diagnose_symptoms("green", "fuzzy", "musty", "insole")
    assert result.result["likely"] == "mold"
    assert result.result["confidence"] >= 0.7
    assert "70% alcohol" in result.result["next_step_en"]


def test_diagnose_white_crust_on_the_water_line_is_salt():
    result = diagnose_symptoms("white", "crusty line", "no smell", "along the water line")
    assert result.result["likely"] == "salt"
    assert "dissolve" in result.text_en


def test_diagnose_waxy_film_without_smell_is_fat_bloom():
    result = diagnose_symptoms("white", "waxy film", "none", "leather upper")
    assert result.result["likely"] == "bloom"
    assert "gentle warmth" in result.text_en
    assert "溫和熱度" in result.text_zh


def test_diagnose_in_chinese():
    assert diagnose_symptoms("白色", "毛茸茸", "有霉味", "鞋墊").result["likely"] == "mold"
    assert diagnose_symptoms("白色", "結晶 一圈水痕", "沒有味道", "邊緣").result["likely"] == "salt"


def test_negated_smell_does_not_count_as_musty():
    result = diagnose_symptoms("white", "", "no musty smell", "")
    assert result.result["likely"] != "mold"


def test_diagnose_with_too_little_evidence_is_unclear():
    result = diagnose_symptoms(location="upper")
    assert result.result["likely"] == "unclear"
    assert result.result["confidence"] < 0.5
    assert "wipe test" in result.text_en and "擦拭測試" in result.text_zh


def test_diagnose_needs_a_description():
    result = diagnose_symptoms()
    assert result.error is not None and "describe at least one" in result.error


def test_diagnose_candidate_scores_sum_to_one():
    scores = [c["score"] for c in diagnose_symptoms("white", "powdery", "musty", "lining").result["candidates"]]
    assert math.isclose(sum(scores), 1.0, abs_tol=0.02)


# ---------------------------------------------------------------------------------------------- dispatch


def test_unknown_tool_is_an_error_not_an_exception():
    result = run_tool("rm_rf", {"path": "/"})
    assert result.error is not None and "unknown tool" in result.error


def test_run_tool_accepts_none_args():
    assert run_tool("mold_risk", None).error is not None


def test_langchain_tools_wrap_every_tool():
    lc_tools = tools.langchain_tools()
    assert [t.name for t in lc_tools] == list(TOOL_NAMES)
    risk = lc_tools[0]
    assert "humidity" in risk.description
    assert set(risk.args) == {"temperature_c", "relative_humidity", "hours_damp"}
    output = risk.invoke({"temperature_c": 25, "relative_humidity": 80})
    assert output["result"]["level"] == "high" and output["error"] is None
    bad = lc_tools[2].invoke({"material": "unobtainium"})
    assert bad["error"] is not None


def test_diagnose_green_crust_on_brass_eyelets_is_verdigris():
    result = diagnose_symptoms("green", "waxy crust", "none", "around the brass eyelets")
    assert result.result["likely"] == "verdigris"
    assert diagnose_symptoms("綠色", "", "", "金屬扣環旁邊").result["likely"] == "verdigris"


def test_diagnose_flaking_pu_is_hydrolysis_not_mold():
    result = diagnose_symptoms("", "flaking, crumbling", "no smell", "PU sole")
    assert result.result["likely"] == "hydrolysis"
    assert "not mold" in result.text_en

"""A small, valid set of knowledge entries for the knowledge-base tests (written into tmp_path)."""

from __future__ import annotations

from pathlib import Path

ENVIRONMENT = """\
# Environment entries used by the tests.
- id: env-humidity-thresholds
  category: environment
  stage: basics
  title:
    en: Humidity thresholds for mold on shoes
    zh: 鞋子發霉的濕度門檻
  body:
    en: >-
      Mold starts to grow on shoes when relative humidity stays above 60-70% for days. Sustained
      70-90% RH is high risk, especially at 20-30°C. Keep shoe storage at or below 50-60% RH.
    zh: >-
      相對濕度長時間高於 60-70% 時，鞋子就容易發霉。持續 70-90% 的濕度是高風險，尤其在 20-30°C。
      鞋櫃的濕度應保持在 50-60% 以下。
  key_facts:
    en: ["60-70%", "70-90% RH", "50-60%"]
    zh: ["60-70%", "70-90%", "50-60%"]
  tools: [mold_risk]
  references:
    - title: "EPA: A Brief Guide to Mold, Moisture, and Your Home"
      url: https://www.epa.gov/mold/brief-guide-mold-moisture-and-your-home
"""

CARE = """\
- id: clean-alcohol-vinegar-wipe
  category: use_cleaning
  stage: treatment
  title:
    en: Wiping mold off shoes with alcohol or vinegar
    zh: 用酒精或白醋擦掉鞋子上的黴菌
  body:
    en: >-
      Brush loose mold off outdoors, then wipe the surface with about 70% alcohol or white vinegar
      diluted 1:1 with water. Never use bleach on leather. Let the shoes dry fully before wearing.
    zh: >-
      先在戶外刷掉表面的黴菌，再用約 70% 的酒精或以 1:1 加水稀釋的白醋擦拭。皮革不可使用漂白水。
      鞋子完全乾燥後再穿。
  key_facts:
    en: ["70% alcohol", "1:1", "bleach"]
    zh: ["70%", "1:1", "漂白水"]
  tools: [material_care]
  references:
    - title: "EPA: Mold Cleanup in Your Home"
      url: https://www.epa.gov/mold/mold-cleanup-your-home
- id: store-silica-gel-cabinet
  category: storage_care
  stage: prevention
  title:
    en: Silica gel packs in the shoe cabinet
    zh: 在鞋櫃放矽膠乾燥劑
  body:
    en: >-
      Put silica gel packs in the shoe cabinet and inside stored shoes to absorb moisture. Replace or
      dry them out when the indicator beads change colour, roughly every month in the rainy season.
    zh: >-
      在鞋櫃和收納的鞋子裡放矽膠乾燥劑吸收水氣。指示顆粒變色時就要更換或烘乾，梅雨季大約每個月一次。
  key_facts:
    en: ["silica gel", "every month"]
    zh: ["矽膠乾燥劑", "每個月"]
  tools: [mold_risk]
  references:
    - title: "EPA: Mold"
      url: https://www.epa.gov/mold
- id: health-athletes-foot
  category: health
  stage: basics
  title:
    en: Athlete's foot and damp shoes
    zh: 香港腳與潮濕的鞋子
  body:
    en: >-
      Athlete's foot is caused by dermatophytes, fungi that thrive in warm, damp shoes and socks.
      Rotating pairs so each rests about 24 hours lowers the risk of reinfection.
    zh: >-
      香港腳（足癬）是由皮癬菌引起的，這類真菌喜歡溫暖潮濕的鞋襪。輪流穿鞋，讓每雙休息約 24 小時，可降低再感染的風險。
  key_facts:
    en: ["dermatophytes", "24 hours"]
    zh: ["皮癬菌", "24 小時"]
  tools: []
  references:
    - title: "NHS: Athlete's foot"
      url: https://www.nhs.uk/conditions/athletes-foot/
- id: mat-suede-brushing
  category: materials
  stage: treatment
  title:
    en: Cleaning mold off suede shoes
    zh: 清除麂皮鞋上的黴菌
  body:
    en: >-
      Suede must not be soaked. Let it dry, brush the nap with a suede brush in one direction, and
      treat stubborn spots with a suede eraser before re-proofing it.
    zh: >-
      麂皮不能泡水。先讓它乾燥，用麂皮刷順著同一方向刷毛，頑固的斑點用麂皮專用橡皮擦處理，再重新噴防水劑。
  key_facts:
    en: ["suede brush", "suede eraser"]
    zh: ["麂皮刷", "橡皮擦"]
  tools: [material_care]
  references:
    - title: "Leather Working Group"
      url: https://www.leatherworkinggroup.com/
"""

ENTRY_IDS = (
    "env-humidity-thresholds",
    "clean-alcohol-vinegar-wipe",
    "store-silica-gel-cabinet",
    "health-athletes-foot",
    "mat-suede-brushing",
)


# Example user questions for store-silica-gel-cabinet, inserted with with_questions(): worded the way
# users ask, sharing almost nothing with the entry's own title and body.
QUESTIONS = """\
  questions:
    en:
      - why did the little beads in that packet turn pink
      - "what are those sachets that come in a new box of boots for?"
    zh:
      - 新鞋盒裡附的那一小包東西有什麼用
      - 小包裡的顆粒變粉紅色了代表什麼
"""


def with_questions(care: str = CARE, block: str = QUESTIONS) -> str:
    """CARE with ``block`` inserted after the silica-gel entry's key_facts."""
    anchor = '    zh: ["矽膠乾燥劑", "每個月"]\n'
    assert anchor in care
    return care.replace(anchor, anchor + block, 1)


def write_entries(directory: Path) -> Path:
    """Write the fixture entries as two YAML files into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "environment.yaml").write_text(ENVIRONMENT, encoding="utf-8")
    (directory / "care.yaml").write_text(CARE, encoding="utf-8")
    return directory


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF whose pages show ``pages`` (lines of text), built byte by byte so that the tests
    need no PDF writer with fonts. ASCII lines are set in Helvetica; other lines (Chinese) in one of the
    standard Adobe CJK fonts that readers supply themselves (MSung-Light), as UCS-2 through the
    UniGB-UCS2-H CMap, the way office tools write Chinese without embedding a font."""

    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    def show(line: str) -> str:
        if line.isascii():
            return f"/F1 11 Tf ({escape(line)}) Tj T*"
        return f"/F2 11 Tf <{line.encode('utf-16-be').hex()}> Tj T*"

    n = len(pages)
    font_id, cjk_font_id, pages_id = 3 + 2 * n, 4 + 2 * n, 2
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        pages_id: b"<< /Type /Pages /Kids [" + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(n))
        + f"] /Count {n} >>".encode(),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        cjk_font_id: b"<< /Type /Font /Subtype /Type0 /BaseFont /MSung-Light /Encoding /UniGB-UCS2-H "
                     b"/DescendantFonts [<< /Type /Font /Subtype /CIDFontType0 /BaseFont /MSung-Light "
                     b"/CIDSystemInfo << /Registry (Adobe) /Ordering (CNS1) /Supplement 1 >> >>] >>",
    }
    for i, lines in enumerate(pages):
        page_id, content_id = 3 + 2 * i, 4 + 2 * i
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"] + [show(line) for line in lines] + ["ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
                            f"/Resources << /Font << /F1 {font_id} 0 R /F2 {cjk_font_id} 0 R >> >> >>").encode()
        objects[content_id] = f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[i]:010d} 00000 n \n".encode() for i in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)

"""Export speed and output sizes: adapter -> merged HF -> GGUF f16 -> quantized GGUF(s) -> parity; prints one JSON object.

    .venv/bin/python benchmarks/export.py [--adapter DIR] [--quant q8_0 --quant q4_k_m] [--out runs/bench/export.json]

Without ``--adapter`` it uses the packaged adapter when one is shipped, else a LoRA adapter made on the
spot (rank 8 on every linear layer, non-zero weights, so merging does real work). Exports go to a
temporary folder, never to the user's models. Reports the total and per-stage seconds (the goal is
<= 90 s for the embedded q8_0 export), the file sizes, each quant's parity summary, and the machine's
load average (the dev machine's 2 cores are shared, which slows torch a lot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from shoeagent import paths
from shoeagent.finetune.export import DEFAULT_QUANTS, ExportOptions, export_model

GOAL_SECONDS = 90.0


def make_adapter(folder: Path) -> Path:
    """A LoRA adapter on the embedded base with non-zero B matrices (merging changes every adapted weight)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from shoeagent.finetune.base import load_base
    from shoeagent.finetune.config import ALL_LINEAR

    model, _ = load_base()
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=ALL_LINEAR, task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.005)
    peft_model.save_pretrained(folder)
    return folder


def run(adapter: Path | None, quants: tuple[str, ...], check_parity: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shoeagent-bench-export-") as scratch:
        scratch_dir = Path(scratch)
        if adapter is None:
            packaged = paths.packaged_adapter_dir()
            adapter = packaged if (packaged / "adapter_model.safetensors").is_file() else make_adapter(scratch_dir / "adapter")
        load_before = os.getloadavg()
        started = time.perf_counter()
        result = export_model(ExportOptions(adapter_dir=adapter, quants=quants, output_dir=scratch_dir / "models",
                                            check_parity=check_parity))
        wall = time.perf_counter() - started
        return {
            "benchmark": "export",
            "adapter": str(adapter),
            "quants": list(quants),
            "parity_checked": check_parity,
            "seconds": round(wall, 2),
            "goal_seconds": GOAL_SECONDS,
            "within_goal": wall <= GOAL_SECONDS,
            "stage_seconds": result.stage_seconds,
            "files": {name: info["bytes"] for name, info in result.manifest["files"].items()},
            "parity": {r.quant: {"passed": r.passed, "teacher_forced_agreement": round(r.agreement, 3),
                                 "greedy_prefix_prompts": sum(c.prefix_ok for c in r.cases), "summary": r.summary()}
                       for r in result.parity},
            "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                        "load_average_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, default=None, help="PEFT adapter folder (default: packaged, else a generated one)")
    parser.add_argument("--quant", action="append", default=None, help="quantization(s); the first is the primary")
    parser.add_argument("--no-parity", action="store_true", help="skip the parity check (smoke runs)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    report = run(args.adapter, tuple(args.quant or DEFAULT_QUANTS), check_parity=not args.no_parity)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

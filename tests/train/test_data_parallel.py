"""Data parallel training, for real: the same command launched by torchrun as two CPU
processes over gloo takes the same steps as one process — the same loss curve and the
same trained adapter, up to the order of floating-point sums."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .helpers import SMOLLM, modelarena

pytest.importorskip("torch")
pytest.importorskip("peft")


def test_two_processes_follow_one_process_loss_curve(tmp_path, home):
    import torch
    from safetensors.torch import load_file

    data = tmp_path / "chats.jsonl"
    topics = ["rain", "tea", "maps", "owls", "jazz", "salt", "ice", "kites", "moss", "gold"]
    lines = []
    for n, topic in enumerate(topics, 1):
        answer = f"{topic.title()} " + "is fine. " * n
        lines.append({"messages": [{"role": "user", "content": f"One line about {topic}."},
                                   {"role": "assistant", "content": answer}]})  # fmt: skip
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    common = ["train", "sft", "--base", SMOLLM, "--data", str(data), "--steps", "3",
              "--lr", "1e-3", "--batch-tokens", "256", "--max-length", "96", "--threads", "1",
              "--held-out", "0.2", "--no-bf16"]  # fmt: skip
    one = modelarena(*common, "--out", str(tmp_path / "one"), env=home)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29517", "-m", "modelarena.cli", *common,
         "--out", str(tmp_path / "two")],
        capture_output=True, text=True, env={**os.environ, **home}, timeout=600,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("done: 3 steps") == 1  # one process reports
    curves = [json.loads((tmp_path / run / "manifest.json").read_text()) for run in ("one", "two")]
    print("losses:", [c["loss_history"] for c in curves])
    assert curves[1]["loss_history"] == pytest.approx(curves[0]["loss_history"], rel=1e-3)
    assert curves[1]["result"]["held_out_after"]["loss"] == pytest.approx(
        curves[0]["result"]["held_out_after"]["loss"], rel=1e-3
    )
    weights = [load_file(str(tmp_path / run / "adapter" / "adapter_model.safetensors"))
               for run in ("one", "two")]  # fmt: skip
    # AdamW turns a gradient near zero into a full-size step of either sign, so a few
    # elements may differ by a step; the adapters as a whole agree.
    for name, value in weights[0].items():
        difference = torch.linalg.norm(weights[1][name] - value) / torch.linalg.norm(value)
        assert difference < 0.02, (name, difference.item())

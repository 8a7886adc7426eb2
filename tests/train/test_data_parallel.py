"""Data parallel training, for real: the same command launched by torchrun as two CPU
processes over gloo takes the same steps as one process — the same loss curve and the
same trained adapter, up to the order of floating-point sums — whether each process holds
the whole model (DDP) or half of it (`--shard`, FSDP), and a sharded run resumes from its
checkpoint to the same loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .helpers import SMOLLM, modelarena

pytest.importorskip("torch")
pytest.importorskip("peft")


def test_two_processes_follow_one_process_loss_curve_whole_or_sharded(tmp_path, home):
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
    runs = {"one": one.stdout}
    sharded = ["--shard", "--checkpoint-every", "2"]
    for name, extra in (("ddp", []), ("fsdp", sharded)):
        runs[name] = _torchrun(*common, *extra, "--out", str(tmp_path / name), env=home)
    assert "step 3/3" in runs["fsdp"] and "GGUF adapter" in runs["fsdp"]
    curves = {run: json.loads((tmp_path / run / "manifest.json").read_text()) for run in runs}
    print("losses:", {run: c["loss_history"] for run, c in curves.items()})
    for run in ("ddp", "fsdp"):
        assert curves[run]["loss_history"] == pytest.approx(curves["one"]["loss_history"], rel=1e-3)
        assert curves[run]["result"]["held_out_after"]["loss"] == pytest.approx(
            curves["one"]["result"]["held_out_after"]["loss"], rel=1e-3
        )
    # The sharded run left its step-2 checkpoint (gathered from both halves); resumed, it
    # takes the third step to the same loss.
    resumed = _torchrun(*common, *sharded, "--resume", "--out", str(tmp_path / "fsdp"), env=home)
    assert "resuming at step 2" in resumed
    last = json.loads((tmp_path / "fsdp" / "manifest.json").read_text())["loss_history"]
    assert last == pytest.approx(curves["one"]["loss_history"][-1:], rel=1e-3)
    weights = {run: load_file(str(tmp_path / run / "adapter" / "adapter_model.safetensors"))
               for run in ("one", "ddp", "fsdp")}  # fmt: skip
    # AdamW turns a gradient near zero into a full-size step of either sign, so a few
    # elements may differ by a step; the adapters as a whole agree.
    for run in ("ddp", "fsdp"):
        for name, value in weights["one"].items():
            difference = torch.linalg.norm(weights[run][name] - value) / torch.linalg.norm(value)
            assert difference < 0.02, (run, name, difference.item())


def _torchrun(*args: str, env: dict) -> str:
    """The command as two processes on this machine; what they printed (one reports)."""
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29517", "-m", "modelarena.cli", *args],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done:") == 1
    return done.stdout

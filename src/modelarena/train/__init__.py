"""Fine-tuning on the arena's own data: supervised fine-tuning on conversations, with LoRA
or in full, from a served model's GGUF, exported as a Hugging Face checkpoint.

Needs the `[train]` extra (torch, transformers, peft); command line in
`modelarena.cli.train`; see docs/train.md. Modules import torch only where they train.
"""

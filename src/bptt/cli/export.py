"""``bptt export RUN --format onnx|safetensors --out PATH``: ship a trained language model.

- ``onnx``: a graph of ONNX's native ``LSTM`` / ``GRU`` / ``RNN`` operators (:mod:`bptt.interop.onnx_export`),
  input ``input_ids`` ``(T, B)``, output ``logits`` ``(T, B, V)``, states optional; the vocabulary and the
  configuration in the model's metadata. Needs ``pip install "bptt[onnx]"``.
- ``safetensors``: the state dict under PyTorch's names with the configuration and vocabulary in the file's
  metadata (:mod:`bptt.models.safetensors_io`), for ``torch.nn`` modules and ``bptt.models``. Needs
  ``pip install "bptt[safetensors]"``.

Only language models are exported: a translator run is refused (its encoder-decoder with attention has no
single torch.nn module, and no ONNX operator covers its beam search). An existing ``--out`` is never
replaced without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..interop.onnx_export import export_language_model
from ..models.checkpoint import CheckpointError
from ..models.io import load_language_model, load_translator
from ..models.safetensors_io import save_safetensors
from .args import add_command
from .errors import CLIError

__all__ = ["FORMATS", "add_commands"]

FORMATS = {"onnx": ".onnx", "safetensors": ".safetensors"}


def add_commands(sub: Any) -> None:
    """Register ``export`` on the main parser's sub-commands."""
    p = add_command(sub, "export", cmd_export, help="export a trained language model to ONNX or safetensors")
    p.add_argument("run", metavar="RUN", help="training output directory (or checkpoint file)")
    p.add_argument("--format", choices=sorted(FORMATS), default=None,
                   help="onnx (ONNX's LSTM/GRU/RNN operators) or safetensors (PyTorch's parameter names); "
                        "default: from the --out suffix")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (.onnx or .safetensors)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def _format(args: argparse.Namespace, out: Path) -> str:
    if args.format is not None:
        return args.format
    for fmt, suffix in FORMATS.items():
        if out.suffix == suffix:
            return fmt
    raise CLIError(f"--format is needed: --out {out} ends neither in .onnx nor in .safetensors")


def _load(run: str) -> Any:
    try:
        return load_language_model(run)
    except CheckpointError as exc:
        try:
            load_translator(run)
        except CheckpointError:
            raise CLIError(str(exc)) from None
        raise CLIError(f"{run} holds a translator (bptt translate train): bptt export exports language models only "
                       "(bptt train runs)") from None


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    fmt = _format(args, out)
    if out.is_dir():
        raise CLIError(f"--out {out} is a directory, expected a file path")
    if out.exists() and not args.force:
        raise CLIError(f"--out {out} already exists; pass --force to replace it")
    model, vocab, _ = _load(args.run)
    try:
        if fmt == "onnx":
            export_language_model(model, vocab, out, overwrite=args.force)
        else:
            save_safetensors(model, vocab, out, overwrite=args.force)
    except (ImportError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({fmt}: {model.cell} {model.num_layers}x{model.hidden_size}, vocabulary {model.vocab_size})")
    return 0

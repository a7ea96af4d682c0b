"""``--weights``: a state_dict loaded into the model before it is exported, from a ``.pt`` file
(``torch.load(weights_only=True)``: a state_dict, or a checkpoint of a training script, whose
``model`` is one) or a ``.safetensors`` file (the final weights a training script writes)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from nndsl.run.export.errors import missing, usage


def load(model: nn.Module, path: Path) -> None:
    """Load the weights at ``path`` into ``model``, all of them and only them."""
    fits = f"the weights in {path} do not fit {type(model).__name__}"
    if path.suffix.lower() == ".safetensors":
        lost, extra = _safetensors(model, path, fits)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch.load's errors for a file it cannot read are of any kind
            why = f"{type(err).__name__}: {_why(err)}"
            raise usage(f"cannot load the weights in {path}: {why}") from None
        try:
            lost, extra = model.load_state_dict(_state_dict(state, path), strict=False)
        except RuntimeError as err:  # a size mismatch
            raise usage(f"{fits}: {_why(err)}") from None
    if lost or extra:
        parts = [f"missing {_names(lost)}"] if lost else []
        parts += [f"unexpected {_names(extra)}"] if extra else []
        raise usage(f"{fits}: " + "; ".join(parts))


def _why(err: BaseException) -> str:
    """An exception's message in one line, without torch's ``Error(s) in loading ...`` head."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Error(s) in loading state_dict")]
    return "; ".join(lines) or type(err).__name__


def _safetensors(model: nn.Module, path: Path, fits: str):
    try:
        from safetensors.torch import load_model
    except ImportError:
        raise missing("reading .safetensors weights", "safetensors") from None
    try:
        return load_model(model, path, strict=False)
    except RuntimeError as err:  # a size mismatch
        raise usage(f"{fits}: {_why(err)}") from None
    except Exception as err:  # safetensors' own error for a file that is not one
        raise usage(f"cannot load the weights in {path}: {type(err).__name__}: {err}") from None


def _state_dict(state, path: Path) -> dict:
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training script's checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise usage(f"--weights {path}: holds no state_dict (a dict of tensors)")
    return state


def _names(names) -> str:
    names = list(names)
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

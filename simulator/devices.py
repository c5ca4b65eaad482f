"""Which torch device a render may use here: checked before any work, one line when not.

torch reports an absent device late and loudly (an ``AssertionError`` "Torch not compiled
with CUDA enabled" from the first tensor, a ``RuntimeError`` for ``cuda:7`` on a one-GPU
machine); :func:`as_device` says it up front as a ``ValueError`` naming the device.
"""

from __future__ import annotations

import torch


def as_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` that exists on this machine.

    Raises:
        ValueError: An unknown device string, or a device this machine does not have
            (one line: which device, and what there is instead).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        if "Expected one of" in str(exc):
            raise ValueError(
                f"device {str(device)!r}: unknown device (expected cpu, cuda, cuda:N, mps, ...)"
            ) from None
        raise ValueError(f"device: {str(exc).splitlines()[0]}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "torch was built without CUDA" if torch.version.cuda is None else "no GPU found"
            raise ValueError(f"device {str(device)!r}: CUDA is not available here ({why}); use cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            devices = "CUDA device" if count == 1 else "CUDA devices"
            raise ValueError(f"device {str(device)!r}: this machine has {count} {devices}")
        return dev
    try:  # any other backend: can a tensor live there?
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, NotImplementedError) as exc:
        first = str(exc).split(". ")[0].splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"device {str(device)!r}: not usable here ({first})") from None
    return dev

"""What the engine needs to know about a torch device: choosing it, telling an
out-of-memory error from others, giving memory back, and whether it still works.

Every `torch.cuda` call of the pipeline lives here, each guarded by the device's type,
so that the same code runs on a CPU (the tests, the tiny set) and on a GPU.
"""

from __future__ import annotations

import gc

import torch

# How ONNX Runtime's CUDA provider reports an allocation it could not make (the face
# models run there): a RuntimeException, not a torch error.
_ONNX_OUT_OF_MEMORY = ("Failed to allocate memory", "out of memory")


def select_device(device: str) -> torch.device:
    """The torch device for ``device``, made current when it is ``cuda:N``.

    Without ``set_device``, kernels launched without an explicit device (cuDNN's
    workspace, compiled graphs, ONNX Runtime's stream) land on GPU 0 whatever N is.
    """
    torch_device = torch.device(device)
    if torch_device.type == "cuda" and torch_device.index is not None:
        torch.cuda.set_device(torch_device)
    return torch_device


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    # ONNX Runtime's pybind exceptions have no importable common base worth depending on.
    return type(error).__module__.startswith("onnxruntime") and any(
        phrase in str(error) for phrase in _ONNX_OUT_OF_MEMORY
    )


def free_memory(device: torch.device) -> None:
    """Give cached blocks back to the device.

    Call it only after leaving the ``except`` block of an out-of-memory error: until
    then the exception's traceback keeps the failed step's tensors alive, and
    ``empty_cache`` cannot release them.
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_works(device: torch.device) -> bool:
    """A tiny operation and a synchronize: False once the device is in a sticky error
    state (an illegal memory access, a device-side assert, an ECC error), after which
    every kernel on it fails until the process exits."""
    try:
        probe = torch.arange(8, device=device, dtype=torch.float32)
        total = float((probe * 2).sum().item())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    except RuntimeError:  # torch.AcceleratorError is a RuntimeError too
        return False
    return total == 56.0

"""Where the networks run: the ``--device`` of ``rigbot train``, ``eval`` and ``finetune`` and the nodes' ``device``.

``auto`` is the GPU when torch sees one (a CUDA build of PyTorch and a driver: see install.sh), else the CPU;
``cpu`` and ``cuda`` ask for one of them, and ``cuda`` is refused at once when torch sees no GPU, so a run never
starts its work on the CPU by surprise. Only the networks move: replay, data and environments stay in numpy on
the CPU, a batch is moved to the agent's device as it is used, and weights are saved as CPU tensors, so a policy
trained on a GPU loads on a machine without one.
"""
from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name="auto"):
    """The ``torch.device`` that ``name`` (one of ``DEVICES``, or a ``torch.device``, returned as it is) means on
    this machine; ValueError for ``cuda`` when torch sees no CUDA GPU, or for a name that is not one of them."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name not in DEVICES:
        raise ValueError(f"device {name!r}: choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built for CPU"
        raise ValueError(f"device cuda: torch sees no CUDA GPU (torch {torch.__version__}, {build}); choose "
                         "cpu or auto, or install a CUDA build of PyTorch (see install.sh)")
    return torch.device(name)

"""finetop's training-side helpers: write the run format, read control.json.

The framework hooks live in submodules, imported on demand so that this package needs nothing
beyond the framework you use:

    from finetop.keras import FinetopCallback, fit        # Keras 3, any backend
    from finetop.torch import Tracker                     # PyTorch, from your own loop
    from finetop.transformers import FinetopTrainerCallback   # Hugging Face Trainer
    from finetop.lightning import FinetopCallback         # PyTorch Lightning (also DDP)

The run directory is ``$FINETOP_RUN_DIR`` (``finetop run -- python train.py`` sets it), or the
directory you pass, or ``runs/<timestamp>``. Nothing in control.json can stop or hang training:
bad or special files are refused with a ``rejected`` control line (see ``finetop.control``).
See README.md next to this package.
"""

from .runlog import RunLog, default_run_dir
from .control import (
    MAX_REVISION,
    ControlFile,
    ControlError,
    ControlReader,
    parse_control,
    read_control,
)

__all__ = [
    "RunLog",
    "default_run_dir",
    "MAX_REVISION",
    "ControlFile",
    "ControlError",
    "ControlReader",
    "parse_control",
    "read_control",
]
__version__ = "0.1.0"

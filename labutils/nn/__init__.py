"""The modules, one file per family. Each mirrors its torch.nn twin where torch has one.
Each family file lists its public names in ``__all__``."""
from ..module import Module, ModuleList, Sequential
from .activation import *  # noqa: F401,F403  (chapter 1)
from .dropout import *  # noqa: F401,F403  (chapter 1)
from .linear import *  # noqa: F401,F403  (chapter 1)
from .loss import *  # noqa: F401,F403  (chapter 1)
from .norm import *  # noqa: F401,F403  (chapter 2)
from .residual import *  # noqa: F401,F403  (chapter 1)
from .feedforward import *  # noqa: F401,F403  (chapter 1)
from .moe import *  # noqa: F401,F403  (chapter 1)
from .conv import *  # noqa: F401,F403  (chapter 3)
from .pool import *  # noqa: F401,F403  (chapter 3)
from .cnn_blocks import *  # noqa: F401,F403  (chapter 3)
from .cnn_arch import *  # noqa: F401,F403  (chapter 3)
from .rnn import *  # noqa: F401,F403  (chapter 4)
from .rnn_layers import *  # noqa: F401,F403  (chapter 4)
from .rnn_variants import *  # noqa: F401,F403  (chapter 4)
from .masks import *  # noqa: F401,F403  (chapter 5)
from .attention import *  # noqa: F401,F403  (chapter 5)
from .attention_layers import *  # noqa: F401,F403  (chapter 5)
from .heads import *  # noqa: F401,F403  (chapter 5)
from .multihead_attention import *  # noqa: F401,F403  (chapter 5)
from .embedding import *  # noqa: F401,F403  (chapter 5)
from .positional import *  # noqa: F401,F403  (chapter 5)
from .rotary import *  # noqa: F401,F403  (chapter 5)
from .primer import *  # noqa: F401,F403  (chapter 5)
from .transformer import *  # noqa: F401,F403  (chapter 5)
from .favor import *  # noqa: F401,F403  (chapter 6)
from .performer_attention import *  # noqa: F401,F403  (chapter 6)


# Demo models that moved to labutils.lab, still reachable as labutils.nn.<name> so that saved
# notebooks run: name -> module of labutils.lab (imported on first use, no import loop).
MOVED_TO_LAB = {"AttentionEncoderDecoder": "seq2seq",
                "Seq2SeqTransformer": "toy_transformer", "make_toy_batch": "toy_transformer",
                "load_toy_transformer": "toy_transformer"}


def __getattr__(name: str) -> object:
    if name in MOVED_TO_LAB:
        import importlib
        return getattr(importlib.import_module(f"labutils.lab.{MOVED_TO_LAB[name]}"), name)
    raise AttributeError(f"module 'labutils.nn' has no attribute {name!r}")

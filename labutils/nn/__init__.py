"""The modules, one file per family. Each mirrors its torch.nn twin where torch has one.
Each family file lists its public names in ``__all__``."""
from ..module import Module, ModuleList, Sequential
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, SELU, Sigmoid, Softmax, Softplus, Tanh
from .dropout import Dropout
from .linear import Identity, Linear
from .loss import CrossEntropyLoss, MSELoss
from .norm import *  # noqa: F401,F403  (chapter 2)
from .residual import FeedForward, Highway, MixtureOfExperts, Residual, SpatialGatingUnit
from .conv import *  # noqa: F401,F403  (chapter 3)
from .pool import *  # noqa: F401,F403  (chapter 3)
from .cnn_blocks import *  # noqa: F401,F403  (chapter 3)
from .rnn import *  # noqa: F401,F403  (chapter 4)
from .attention import *  # noqa: F401,F403  (chapter 5)
from .positional import *  # noqa: F401,F403  (chapter 5)
from .transformer import *  # noqa: F401,F403  (chapter 5)
from .performer_attention import *  # noqa: F401,F403  (chapter 6)

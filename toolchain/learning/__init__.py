"""On-device continual learning: the float head the board trains (firmware/learning/),
its header (``config``), numpy reference of the seven rules (``rules``), checkpoint blob
(``checkpoint``), link client (``client``), the session driver (``session``) and the board's
embeddings of many clips at once, on emulated boards in parallel (``embed``, the demo's streaming pass)."""
from .checkpoint import CheckpointError, HeadState
from .client import LearningClient, LearningError, LearnMsg
from .config import HeadDefaults, render_head_config
from .rules import RULES, Head, rule_code
from .session import (EvalSet, LearnPlan, LearningSessionError, SessionResult, board_opener,
                      clip_source, feature_source, run_learning_session)

__all__ = ["CheckpointError", "EvalSet", "Head", "HeadDefaults", "HeadState", "LearnMsg", "LearnPlan",
           "LearningClient", "LearningError", "LearningSessionError", "RULES", "SessionResult",
           "board_opener", "clip_source", "feature_source", "render_head_config", "rule_code",
           "run_learning_session"]

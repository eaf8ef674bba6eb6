"""On-device audio front end: the generated config header (``config``), its link messages
(``messages``), the host client (``client``) and the numpy expectation (``reference``)."""
from .client import FrontendError, check_config, frontend_info, read_features, send_clip
from .config import HEADER_NAME, config_id, render_frontend_config
from .messages import FrontendInfo, FrontendMsg
from .reference import clip_features, expected_input, quantize_features

__all__ = ["FrontendError", "FrontendInfo", "FrontendMsg", "HEADER_NAME", "check_config", "clip_features",
           "config_id", "expected_input", "frontend_info", "quantize_features", "read_features",
           "render_frontend_config", "send_clip"]

"""The serial link to the firmware: framing (``protocol``), the host client (``client``)."""
from .client import Link
from .cycles import CycleScale, cycle_scale
from .errors import BoardReset, DeviceFault, DeviceOverflow, FirmwareMismatch, LinkError, LinkTimeout, ProtocolError, ReplyLost
from .protocol import Frame, FrameDecoder, Hello, Msg, crc16, encode_frame

__all__ = ["BoardReset", "DeviceFault", "DeviceOverflow", "FirmwareMismatch", "Link", "LinkError", "LinkTimeout", "CycleScale",
           "cycle_scale", "Frame", "FrameDecoder", "Hello", "Msg", "ProtocolError", "ReplyLost", "crc16",
           "encode_frame"]

"""The serial link to the firmware: framing (``protocol``), the host client (``client``)."""
from .client import Link
from .cycles import CycleScale, cycle_scale
from .errors import DeviceFault, DeviceOverflow, FirmwareMismatch, LinkError, LinkTimeout, ProtocolError
from .protocol import Frame, FrameDecoder, Hello, Msg, crc16, encode_frame

__all__ = ["DeviceFault", "DeviceOverflow", "FirmwareMismatch", "Link", "LinkError", "LinkTimeout", "CycleScale",
           "cycle_scale", "Frame", "FrameDecoder", "Hello", "Msg", "ProtocolError", "crc16",
           "encode_frame"]

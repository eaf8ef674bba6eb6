"""The link's error classes: every one is a LinkError, which the CLI maps to exit code 5
(flash or serial link failed)."""
from __future__ import annotations


class LinkError(RuntimeError):
    """The device or the connection failed; the message names the port."""


class LinkTimeout(LinkError):
    """No valid reply after every retry."""


class DeviceFault(LinkError):
    """The firmware hit a CPU fault (it reports the fault and exits)."""


class DeviceOverflow(LinkError):
    """An INVOKE broke a memory guard (the arena's guard bytes or the stack's end): the
    firmware needs a bigger arena or stack, its outputs were not read."""


class FirmwareMismatch(LinkError):
    """The device runs other firmware than the build the host expects."""


class ReplyLost(LinkTimeout):
    """An INVOKE went out and no valid reply came: the model may have run, and a model
    may overwrite its input while it runs (the arena is reused), so it is not resent;
    ``Link.run()`` writes the inputs again and invokes once more."""


class BoardReset(LinkError):
    """The board restarted (its boot HELLO came) while a request waited for its reply:
    the request and the board's state (inputs, outputs, extension state) are lost."""


class ProtocolError(LinkError):
    """A frame that passed its CRC but whose payload does not parse as the message it
    claims to be: the device speaks another protocol version or has a bug."""

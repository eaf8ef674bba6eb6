"""QEMU with and without -icount: only a session whose counts are reported needs the fixed
instruction clock; without it the link labels the counts as SysTick ticks, never instructions."""
from __future__ import annotations

import numpy as np
import pytest

from mcuforge.boards import load_board
from mcuforge.flash import open_session, qemu_argv


def test_argv_leaves_out_icount_only_when_asked(tmp_path):
    board = load_board("netduinoplus2")
    on = qemu_argv(tmp_path / "fw.elf", board)
    off = qemu_argv(tmp_path / "fw.elf", board, icount=False)
    assert on[on.index("-icount") + 1] == f"shift={board.emulator.icount_shift}"
    assert "-icount" not in off and [a for a in on if a not in ("-icount", f"shift={board.emulator.icount_shift}")] == off


@pytest.mark.qemu
@pytest.mark.parametrize("icount,unit", [(True, "emulated-instructions"), (False, "systick-ticks")])
def test_the_link_names_what_the_counts_are(fake_firmware, icount, unit):
    board = "netduinoplus2"
    with open_session(fake_firmware(board).elf, board, icount=icount) as s:
        with s.link() as link:
            h = link.hello()
            x = [np.zeros(i.bytes // np.dtype(i.dtype).itemsize, dtype=i.dtype) for i in h.inputs]
            outputs, ticks = link.run(x)
            assert link.cycle_scale.unit == unit and ticks > 0 and len(outputs) == len(h.outputs)

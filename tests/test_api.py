"""The Python API (mcuforge.api) is the library's, not the CLI's: every name it offers is defined
outside mcuforge.commands, and the README's example names only what it offers."""
from __future__ import annotations

import re

from conftest import REPO
from mcuforge import api


def test_api_names_live_in_the_library():
    for name in api.__all__:
        obj = getattr(api, name)
        assert not obj.__module__.startswith("mcuforge.commands"), (name, obj.__module__)


def test_readme_python_example_uses_the_api():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "mcuforge.commands" not in block
    for used in re.findall(r"\bapi\.(\w+)\(", block):
        assert used in api.__all__, used

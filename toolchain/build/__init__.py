"""Build a generated project: run its Makefile with the board's toolchain, and read flash/RAM use
from the ELF (``make``)."""
from .make import BuildError, BuildResult, ElfSizes, build, elf_sizes

__all__ = ["BuildError", "BuildResult", "ElfSizes", "build", "elf_sizes"]

"""Build a firmware project: lay it out (``project``) and compile it (``make``)."""
from .make import BuildError, BuildResult, ElfSizes, build, elf_sizes
from .project import (ProjectError, copy_platform, project_include_dirs, render_arch_files, render_config_header,
                      render_makefile, write_makefile)

__all__ = ["BuildError", "BuildResult", "ElfSizes", "build", "elf_sizes", "ProjectError",
           "copy_platform", "project_include_dirs", "render_arch_files", "render_config_header", "render_makefile",
           "write_makefile"]

"""The firmware project: its layout (the runtime library and the model, ``layout``), its
manifest (``manifest``), safe writing into the user's folder (``output``), and the exporters
that wrap the library for one build system each (``exporters/``; the Makefile project first)."""
from .exporters import DEFAULT_FORMAT, EXPORTERS, exporter
from .generator import Project, generate, load_project
from .layout import Library, ProjectError, Spec, copy_platform, device_extensions, project_include_dirs, write_library
from .manifest import MANIFEST, find_manifest, read_manifest
from .output import OutputDirError, check_out_dir

__all__ = ["DEFAULT_FORMAT", "EXPORTERS", "Library", "MANIFEST", "OutputDirError", "Project", "ProjectError", "Spec",
           "check_out_dir", "copy_platform", "device_extensions", "exporter", "find_manifest", "generate", "load_project",
           "project_include_dirs", "read_manifest", "write_library"]

"""Where the stack keeps its data by default: ``<repo root>/.dev`` (git-ignored)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_data_dir", "find_repo_root"]


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding the uv workspace's pyproject.toml (or ``.git``)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text("utf-8"):
            return candidate
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return here


def default_data_dir() -> Path:
    return find_repo_root() / ".dev"

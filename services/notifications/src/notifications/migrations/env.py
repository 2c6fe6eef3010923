from importlib import import_module

from dropwave_runtime.migrations import run_env

# Equivalent to `from notifications.models import Base`. Imported by name because mypy
# (explicit_package_bases, no mypy_path) would see models.py under two module names
# ("services.notifications.src.notifications.models" and "notifications.models") and stop.
run_env(import_module("notifications.models").Base.metadata)

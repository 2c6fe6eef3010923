"""Alembic env: the runtime's async runner over payments' metadata.

``payments.models`` is imported by name at run time rather than with ``from payments.models
import Base``: with the workspace's mypy config (``explicit_package_bases``, no ``mypy_path``)
``mypy services/payments/src`` names this package ``services.payments.src.payments`` and an
absolute import of the installed ``payments`` makes it see models.py twice. Alembic loads
this file as a script, so a relative import is not possible either.
"""

import importlib

from dropwave_runtime.migrations import run_env

run_env(importlib.import_module("payments.models").Base.metadata)

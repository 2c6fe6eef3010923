from dropwave_runtime import cli

from .bootstrap import SERVICE, bootstrap

cli.run(SERVICE, bootstrap)

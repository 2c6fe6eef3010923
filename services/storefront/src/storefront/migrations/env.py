from dropwave_runtime.migrations import run_env
from storefront.models import Base

run_env(Base.metadata)

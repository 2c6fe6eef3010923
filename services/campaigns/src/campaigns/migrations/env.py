from campaigns.models import Base
from dropwave_runtime.migrations import run_env

run_env(Base.metadata)

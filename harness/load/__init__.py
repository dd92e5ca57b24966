"""Load testing: profiles as data, tier users, HDR recording, SLO gates, the runner.

Modules that import Locust (and so gevent-monkey-patch the process) are
`users`, `shape`, `runner`, `worker` and `locustfile_support`; the rest
(profiles, recorder, slo, cpu, summary, prom) are plain libraries.
"""

from harness.load.profiles import LoadCatalogue, Profile, Stage, load_profiles
from harness.load.recorder import Recorder
from harness.load.slo import SLOSet, load_slo

__all__ = ["LoadCatalogue", "Profile", "Recorder", "SLOSet", "Stage", "load_profiles", "load_slo"]

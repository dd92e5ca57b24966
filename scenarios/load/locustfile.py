"""The gateway's load profiles as a standard locustfile.

    locust -f scenarios/load/locustfile.py --host http://127.0.0.1:PORT [--profile smoke]
           [--tls-host https://127.0.0.1:TLSPORT] [--headless] [--tags jwt]

One user class per tier (weighted by the tenant directory) and a flooding
neighbour; tasks come from the request mix of profiles.yaml, tagged by
feature; the profile's stages drive the load. Everything lives in
harness.load: no business logic here. `harness load --profile NAME` runs the
same users through Locust as a library, with SLO gates and reports.
"""

from pathlib import Path

from harness.load.locustfile_support import setup

globals().update(setup(Path(__file__).resolve().parents[2]))

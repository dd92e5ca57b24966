"""Reliability and security suite: hostile inputs, faults, rate-limit accuracy.

- `accuracy`: the over-admission / boundary-burst arithmetic (pure);
- `ratelimit_run`: the concurrent client pool that produces its samples;
- `hostile`: the hostile-input corpus (scenarios/security/hostile-inputs.yaml),
  its case model, the token forger and the executor;
- `figures`: the reliability section of the conformance report.
"""

"""Deployment and monitoring config: compose, Kubernetes, Prometheus, Grafana, OpenAPI.

Everything here is validated offline (`harness validate`); see docs/deployment.md.
"""

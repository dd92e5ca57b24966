"""The stack's own services: echo stubs, the Tenant Service and the Auth Service.

Each is runnable as `python -m harness.services.<name>`.
"""

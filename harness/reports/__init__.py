"""Reports under reports/: conformance (contract suite) and load runs."""

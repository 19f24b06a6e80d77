"""auditor: proves from GitLab's records whether hotfixes reached staging by the runbook."""

__version__ = "0.1.0"

"""`python -m auditor` entry point."""

from auditor.cli import main

main()

"""The only package that imports python-gitlab: a read-only client and the evidence source."""

"""Report writers, one module per output format, each a pure `render(report) -> str`.

Which formats a command offers is the command's registry (`auditor/formats.py`, built in
`cli.py`); each writer module is imported only when its format is asked for.
"""

"""The `hokusai` command line: parses, calls one `pipeline` function, renders."""

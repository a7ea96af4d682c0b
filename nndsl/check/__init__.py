"""The checker: syntax tree in, typed IR and diagnostics out."""

"""The only stage that writes Python: IR in, formatted model and training sources out."""

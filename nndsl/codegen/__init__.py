"""The only stage that writes Python: IR in, formatted model and training sources out."""

# the support module every training script imports, written beside the scripts
KIT_MODULE = "trainkit"

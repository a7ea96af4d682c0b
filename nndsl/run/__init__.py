"""`nndsl run`: execute the very code `compile` writes, in a run folder."""

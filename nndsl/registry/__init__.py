"""One table per kind of built-in: layers, functions, losses, optimizers, schedulers, inits."""

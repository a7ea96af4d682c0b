"""The names a training script binds where they would hide its model: at module level, and in
``main``, the function that builds the model. A trained model may not take one of them (E0110):
``from model import Net`` would be shadowed and the script would break when it runs.

The set is fixed by the templates (templates/train.py.j2 and its parts in templates/train/;
the support module trainkit.py is imported as ``kit``, so its names hide nothing)
plus a few names derived from the program: ``load_<data>`` for each data section the train
section reads, the row class of a streamed one, and the imports that only some scripts need.
tests/test_script_names.py renders training scripts and checks that every name they bind in
those places is here, so this list cannot go stale when the templates change; no template is
rendered to check a program.
"""

from __future__ import annotations

from dataclasses import replace

from nndsl.diagnostics.core import Diagnostic
from nndsl.ir import nodes as ir
from nndsl.registry.readers import uses_numpy
from nndsl.util.naming import Namespace

# The imports every training script has (the support module as ``kit``).
IMPORTS = frozenset("annotations dataclass Path torch nn F kit".split())

# The functions, classes and constants every training script defines at module level, or may
# define depending on its settings (kept here whatever the settings: a model name that works
# with one setting should not break when another changes).
DEFINITIONS = frozenset(
    "SOURCE Config step build_optimizer init_weights main predict predict_input read_csv".split()
    + "VOCABULARY read_text generate".split()
)

# The names ``main`` binds: its argument and its locals.
MAIN_LOCALS = frozenset(
    "cfg run data val_data test_data model optimizer scheduler total_steps metrics name p".split()
)

FIXED = IMPORTS | DEFINITIONS | MAIN_LOCALS


def row_class(data_name: str) -> str:
    """The class a streamed data section's rows become: the name title-cased as the template's
    ``title`` filter does it (first letter upper, the rest lower), without ``_``.

    >>> row_class("digit_rows")
    'DigitrowsRows'
    """
    return (data_name[:1].upper() + data_name[1:].lower()).replace("_", "") + "Rows"


def distinct_rows(code: ir.DataCode, *others: ir.DataCode | None) -> ir.DataCode:
    """The validation (or test) data, its row class renamed when the training data's (or the
    validation data's) is the same (``a_b`` and ``A_b`` would both be ``AbRows``): ``AbRows2``."""
    taken = {d.row_class for d in others if d is not None and d.stream}
    if not code.stream or code.row_class not in taken:
        return code
    return replace(code, row_class=Namespace(taken).unique(code.row_class))


def reserved(t: ir.TrainIR) -> frozenset[str]:
    """Every name the training script of ``t`` binds at module level or in ``main``."""
    datas = [d for d in (t.data, t.validation, t.test, t.predict_data) if d is not None]
    names = set(FIXED)
    names.update(f"load_{d.name}" for d in datas)
    names.update(d.row_class for d in datas if d.stream)
    if t.steps:  # a section of several models: its step functions and what main binds
        names.update(f"{st.name}_step" for st in t.steps)
        names.update(("models", "steps", "samples"))
    if t.fsdp:  # `with run.init_device() as device:` builds the model
        names.add("device")
    readers = set(t.readers)
    if uses_numpy(readers):
        names.add("np")
    return frozenset(names)


def clash(t: ir.TrainIR, span) -> Diagnostic | None:
    """E0110 when the model of ``t`` is named like something its training script binds."""
    taken = reserved(t)
    model = next((m for m in [t.model, *(c for _, c in t.models)] if m in taken), None)
    if model is None:
        return None
    message = f"cannot train a model named `{model}`: its training script uses that name"
    return Diagnostic("E0110", message, span, help="rename the model")

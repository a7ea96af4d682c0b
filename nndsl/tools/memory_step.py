"""The saved activations of one training step of a train section: the model's forward on a
batch of its data, then the loss and the metrics the step computes, or each ``step`` of a
section of several models, whichever keeps the most (a step's backward frees what it kept
before the next step runs).

The loss keeps what its registry entry's ``saves`` says, in float32 under autocast; a metric
keeps what its functions keep (``mae`` its absolute difference; ``accuracy`` and ``top_k`` read
indices and keep nothing of note). Each tensor of the batch is the data section's, in the dtype
the step feeds it.
"""

from __future__ import annotations

from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.operators import OPERATOR_AUTOCAST, OPERATOR_SAVES
from nndsl.registry.training import LOSSES
from nndsl.tools.memory_saved import Held, Keep, Step, call_model

HALF = {"bf16": "bfloat16", "fp16": "float16"}


def saved_bytes(
    program: ir.ProgramIR, t: ir.TrainIR, batch: int, device: str = "cuda", sizes=None
) -> int:
    """The bytes autograd keeps at the start of the backward of a step of ``batch`` samples
    (``sizes``: the other sizes the shapes name, such as ``T``; raises UnknownSize for one
    without a value)."""
    sizes = {**(sizes or {}), "B": batch}
    if t.steps:
        return max(step_bytes(program, t, sizes, device, s) for s in t.steps)
    return step_bytes(program, t, sizes, device, None)


def step_bytes(program, t: ir.TrainIR, sizes: dict, device: str, model_step) -> int:
    """What one step keeps: ``model_step`` of a section of several models, or (None) the
    section's own step; ``sizes`` has ``B``."""
    step = Step(program, sizes, device, HALF.get(t.precision, ""), frozenset(t.frozen))
    env = _batch(program, t, step)
    if model_step is not None:
        classes = dict(t.models)
        for stmt in model_step.body:
            if isinstance(stmt, ex.Assign) and isinstance(stmt.target, ex.Name):
                env[stmt.target.id] = _value(stmt.value, env, step, classes)
            elif isinstance(stmt, tr.LossCall):
                env[stmt.local] = _loss(stmt.target, stmt.operands, env, step, classes)
        return step.total
    inputs = [env.get(k) for k in t.inputs]
    info = next(m for m in program.models if m.name == t.model)
    for declared, held in zip(info.inputs, inputs):  # `x: [T, 1]` sized by the data
        for dim, size in zip(declared.shape, held.shape if held is not None else ()):
            if isinstance(dim, str) and dim.isidentifier():
                step.sizes.setdefault(dim, size)
    outs = call_model(step, t.model, inputs)
    if t.step is None:  # `loss mse`: the first output against `y`
        out = outs[0] if isinstance(outs, tuple) else outs
        env.update(out=out)
        _loss(t.loss.target, (ex.Name("out"), ex.Name("y")), env, step, {})
        if "mae" in t.metrics:
            _value(_MAE, env, step, {})
    else:
        for name, value in zip(t.step.outputs, outs if isinstance(outs, tuple) else (outs,)):
            env[name] = value
        for call in t.step.calls:
            env[call.local] = _loss(call.target, call.operands, env, step, {})
    for _, expr in t.metric_exprs:
        _value(expr, env, step, {})
    return step.total


_MAE = ex.Call(ex.Attr(ex.BinOp("-", ex.Name("out"), ex.Name("y")), "abs"), (), ())


def _batch(program: ir.ProgramIR, t: ir.TrainIR, step: Step) -> dict:
    """Each tensor of a batch by its key, in the dtype the step reads it in."""
    table = next((d for d in program.datas if d.name == t.data.name), None)
    tensors = {name: (shape, dtype) for name, shape, dtype in (table.tensors if table else ())}
    env: dict = {}
    for key, feed in t.data.returns:
        if feed.tensor in tensors:
            shape, dtype = tensors[feed.tensor]
            env[key] = step.fresh((step.sizes["B"], *shape[1:]), feed.dtype or dtype)
    return env


def _loss(target: str, operands, env: dict, step: Step, classes: dict) -> Held | None:
    """A loss function's call: what it keeps, and its (0-D) result."""
    spec = next((s for s in LOSSES.values() if s.torch == target), None)
    values = [_value(e, env, step, classes) for e in operands]
    grad = any(isinstance(v, Held) and v.grad for v in values)
    if spec is None or not grad:
        return None
    out = step.fresh((), "float32", True)
    Keep(step, ("loss", target, id(operands)), "float32").all(spec.saves, values, out)
    return out


def _value(e, env: dict, step: Step, classes: dict):
    """An expression of a step: a tensor (Held), a tuple of them, a number or None."""
    match e:
        case ex.Name(id=name):
            return env.get(name)
        case ex.Lit(value=value):
            return value
        case ex.Call(func=ex.Attr(value=ex.Name(id="models"), attr=attr), args=args):
            ins = [_value(a, env, step, classes) for a in args]
            return call_model(step, classes[attr], ins) if attr in classes else None
        case ex.Call(func=ex.Attr(value=ex.Name(id="torch"), attr=name), args=args):
            return _made(name, [_value(a, env, step, classes) for a in args], step)
        case ex.Call(func=ex.Name(id="len"), args=(arg,)):
            got = _value(arg, env, step, classes)
            return got.shape[0] if isinstance(got, Held) and got.shape else None
        case ex.Call(func=ex.Attr(value=receiver, attr="detach")) if not isinstance(
            receiver, ex.Name
        ):  # what is detached of a value nothing else holds frees its graph: nothing kept
            kept = dict(step.saved)
            got = _method("detach", _value(receiver, env, step, classes), step)
            step.saved = kept
            return got
        case ex.Call(func=ex.Attr(value=receiver, attr=method)):
            return _method(method, _value(receiver, env, step, classes), step)
        case ex.BinOp(op=op, left=left, right=right):
            pair = [_value(x, env, step, classes) for x in (left, right)]
            return _binary(op, pair, step)
    return None


def _made(name: str, args: list, step: Step) -> Held | None:
    """``torch.randn(n, 16)``, ``torch.ones_like(x)``: a tensor nothing needs a gradient of."""
    if name.endswith("_like"):
        x = args[0] if args else None
        return step.fresh(x.shape, x.dtype) if isinstance(x, Held) else None
    if all(isinstance(a, int) for a in args):
        return step.fresh(tuple(args), "float32")
    return None


def _method(method: str, x, step: Step):
    """``x.method()`` of a metric or step, as the function of that name computes it."""
    if not isinstance(x, Held):
        return None
    if method == "detach":
        return Held(x.key, x.nbytes, x.shape, x.dtype)
    func = FUNCTIONS.get(method)
    if func is None or not func.grad:
        return None
    if func.alias == "view" or func.alias == "cast" and x.dtype == "float32":
        return x
    out = step.fresh(x.shape, step.dtype(func.autocast, x.dtype, [x]), x.grad)
    if x.grad:
        Keep(step, ("method", method, x.key), func.autocast).all(func.saves, [x], out)
    return out


def _binary(op: str, pair: list, step: Step):
    """An operator of a step's expression; the result takes the larger operand's shape."""
    tensors = [v if isinstance(v, Held) else None for v in pair]
    held = [v for v in tensors if v is not None]
    if not held:
        return None
    shape = max((v.shape for v in held), key=len)
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return step.fresh(shape, "bool")
    kind = OPERATOR_AUTOCAST.get(op, "")
    out = step.fresh(shape, step.dtype(kind, held[0].dtype, held), any(v.grad for v in held))
    if out.grad:
        Keep(step, ("op", op, id(pair)), kind).all(OPERATOR_SAVES.get(op, ()), tensors, out)
    return out

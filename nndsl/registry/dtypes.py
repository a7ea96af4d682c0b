"""The dtype names an input declaration may use (``x: [4] double``), and the canonical dtype
(:mod:`nndsl.ir.tensors`) each one means."""

DTYPES = {
    "float": "float32",
    "float32": "float32",
    "double": "float64",
    "float64": "float64",
    "half": "float16",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "long": "int64",
    "int64": "int64",
    "int": "int32",
    "int32": "int32",
    "bool": "bool",
}

"""The flags of ``nndsl export``, declared here so that the command line stays small; nothing
here imports torch."""

from __future__ import annotations

HELP = "export a model to ONNX (.onnx) or torch.export (.pt2), checked against PyTorch"
DESCRIPTION = (
    "Export one model of a .nn file: -o model.onnx through torch.onnx's dynamo exporter (it "
    'needs onnx and onnxscript: pip install "nndsl[export]"), -o model.pt2 through '
    "torch.export. The sizes the model's inputs name (B, T) stay dynamic, the numbers fixed. "
    "The written file is then run at two batch sizes (and two values of each other size) "
    "against the PyTorch model in eval mode (an ONNX file in onnxruntime, when installed); a "
    "difference over the tolerance is exit 1 and writes nothing."
)


def add_flags(parser) -> None:
    parser.add_argument("file", help="the .nn source file")
    parser.add_argument(
        "-o", "--output", required=True, help="the file to write: NAME.onnx or NAME.pt2"
    )
    parser.add_argument("--model", help="the model to export (needed when there are several)")
    parser.add_argument(
        "--weights",
        metavar="PATH",
        help="a state_dict to export (.pt, .pth or .safetensors, such as a run's weights); "
        "default: the model's fresh initialisation, seeded",
    )
    parser.add_argument(
        "--size",
        action="append",
        metavar="NAME=N",
        help="fix a size the inputs name, such as T=100 (repeatable); the others stay dynamic",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        help="the largest absolute difference from PyTorch accepted (default: 1e-4; 1e-2 for "
        "a model in float16 or bfloat16)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "short", "json"),
        default="text",
        help="how to print diagnostics: text (with source and caret), short (one line each), json",
    )

"""``nndsl export``: one model of a ``.nn`` file as an ONNX file (``.onnx``, through torch.onnx's
dynamo exporter) or a torch.export program (``.pt2``), with the sizes the model declares by
name (the batch ``B``, a length ``T``) kept dynamic, then run at two sets of sizes against the
PyTorch model it came from.

``flags`` declares the command's flags (and imports nothing heavy), ``sizes`` makes the example
inputs, ``weights`` loads a state_dict, ``artifact`` exports, writes and checks, ``command`` is
the command line around it; every refusal is an :class:`~nndsl.run.export.errors.ExportError`
of one line.
"""

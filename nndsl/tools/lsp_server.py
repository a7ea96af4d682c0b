"""The protocol side of ``nndsl lsp``: pygls, and the conversion of
:mod:`nndsl.tools.lsp_features`'s answers (0-based lines and code points) to LSP values in the
editor's position units."""

from __future__ import annotations

import asyncio
import inspect
from importlib import metadata
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from nndsl.tools import lsp_features as features

_KINDS = {
    "class": t.CompletionItemKind.Class,
    "property": t.CompletionItemKind.Property,
    "function": t.CompletionItemKind.Function,
    "keyword": t.CompletionItemKind.Keyword,
}


def make_server() -> LanguageServer:
    """The language server, every feature registered."""
    ls = LanguageServer("nndsl", _version(), text_document_sync_kind=t.TextDocumentSyncKind.Full)
    h = _Handlers(ls)
    features_ = [
        (t.TEXT_DOCUMENT_DID_OPEN, h.did_open, None),
        (t.TEXT_DOCUMENT_DID_CHANGE, h.did_change, None),
        (t.TEXT_DOCUMENT_DID_CLOSE, h.did_close, None),
        (t.TEXT_DOCUMENT_HOVER, h.hover, None),
        (
            t.TEXT_DOCUMENT_COMPLETION,
            h.completion,
            t.CompletionOptions(trigger_characters=["(", ","]),
        ),
        (t.TEXT_DOCUMENT_DEFINITION, h.definition, None),
        (t.TEXT_DOCUMENT_FORMATTING, h.formatting, None),
        (
            t.TEXT_DOCUMENT_CODE_ACTION,
            h.code_action,
            t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix]),
        ),
    ]
    for name, method, options in features_:
        ls.feature(name, options)(_handler(method))
    return ls


def _version() -> str:
    """The installed distribution's version (the package root, which holds ``__version__``,
    sits above this layer)."""
    try:
        return metadata.version("nndsl")
    except metadata.PackageNotFoundError:
        return "unknown"


def _handler(method):
    """A function calling ``method`` (pygls marks the functions it registers, which a bound
    method cannot carry); a coroutine function for a coroutine method."""
    if inspect.iscoroutinefunction(method):

        async def waiting(params):
            return await method(params)

        return waiting

    def handler(params):
        return method(params)

    return handler


SETTLE_S = 0.02  # how long a change waits for the next before its document is checked


class _Handlers:
    def __init__(self, ls: LanguageServer):
        self.ls = ls
        self.documents: dict[str, tuple[int | None, features.Document]] = {}

    def document(self, uri: str):
        """pygls's document and ours, made once per version."""
        text_doc = self.ls.workspace.get_text_document(uri)
        held = self.documents.get(uri)
        if held is None or held[0] != text_doc.version or held[1].text != text_doc.source:
            folder = Path(text_doc.path).parent if text_doc.path else None
            held = (text_doc.version, features.Document(text_doc.source, folder))
            self.documents[uri] = held
        return text_doc, held[1]

    # ---- diagnostics --------------------------------------------------------------------------

    def diagnostic(self, uri: str, text_doc, d) -> t.Diagnostic:
        related = [
            t.DiagnosticRelatedInformation(
                t.Location(uri, _range(text_doc, features.span_range(lab.span))), lab.message
            )
            for lab in d.labels
        ]
        error = d.severity == "error"
        return t.Diagnostic(
            range=_range(text_doc, features.span_range(d.span)),
            message=features.message(d),
            severity=t.DiagnosticSeverity.Error if error else t.DiagnosticSeverity.Warning,
            code=d.code,
            source="nndsl",
            related_information=related or None,
        )

    def publish(self, uri: str) -> None:
        text_doc, doc = self.document(uri)
        found = [self.diagnostic(uri, text_doc, d) for d in features.diagnostics(doc)]
        self.ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=text_doc.version)
        )

    def did_open(self, params: t.DidOpenTextDocumentParams) -> None:
        self.publish(params.text_document.uri)

    async def did_change(self, params: t.DidChangeTextDocumentParams) -> None:
        """Diagnostics for the document as changed, unless a later change has come in the
        meantime (typing sends one a keystroke): only the latest version is checked."""
        await asyncio.sleep(SETTLE_S)
        uri = params.text_document.uri
        if self.ls.workspace.get_text_document(uri).version == params.text_document.version:
            self.publish(uri)

    def did_close(self, params: t.DidCloseTextDocumentParams) -> None:
        self.documents.pop(params.text_document.uri, None)
        self.ls.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
        )

    # ---- requests -----------------------------------------------------------------------------

    def hover(self, params: t.HoverParams) -> t.Hover | None:
        text_doc, doc = self.document(params.text_document.uri)
        found = features.hover(doc, *_at(text_doc, params.position))
        if found is None:
            return None
        contents = t.MarkupContent(kind=t.MarkupKind.Markdown, value=found[0])
        return t.Hover(contents=contents, range=_range(text_doc, found[1]))

    def completion(self, params: t.CompletionParams) -> t.CompletionList:
        text_doc, doc = self.document(params.text_document.uri)
        items = [
            t.CompletionItem(
                label=i.label,
                kind=_KINDS[i.kind],
                detail=i.detail or None,
                documentation=i.doc or None,
                insert_text=i.insert or None,
            )
            for i in features.completions(doc, *_at(text_doc, params.position))
        ]
        return t.CompletionList(is_incomplete=False, items=items)

    def definition(self, params: t.DefinitionParams) -> t.Location | None:
        text_doc, doc = self.document(params.text_document.uri)
        found = features.definition(doc, *_at(text_doc, params.position))
        if found is None:
            return None
        return t.Location(params.text_document.uri, _range(text_doc, found))

    def formatting(self, params: t.DocumentFormattingParams) -> list[t.TextEdit] | None:
        text_doc, doc = self.document(params.text_document.uri)
        new = features.formatted(doc)
        if new is None or new == doc.text:
            return None
        whole = t.Range(t.Position(0, 0), t.Position(len(text_doc.lines), 0))
        return [t.TextEdit(range=whole, new_text=new)]

    def code_action(self, params: t.CodeActionParams) -> list[t.CodeAction]:
        uri = params.text_document.uri
        text_doc, doc = self.document(uri)
        actions = []
        for title, r, new, d in features.quick_fixes(
            doc, params.range.start.line, params.range.end.line
        ):
            edit = t.TextEdit(range=_range(text_doc, r), new_text=new)
            actions.append(
                t.CodeAction(
                    title=title,
                    kind=t.CodeActionKind.QuickFix,
                    diagnostics=[self.diagnostic(uri, text_doc, d)],
                    edit=t.WorkspaceEdit(changes={uri: [edit]}),
                    is_preferred=True,
                )
            )
        return actions


def _range(text_doc, r: features.Range) -> t.Range:
    server = ServerTextRange(ServerTextPosition(r[0], r[1]), ServerTextPosition(r[2], r[3]))
    return text_doc.range_to_client_units(server)


def _at(text_doc, position: t.Position) -> tuple[int, int]:
    p = text_doc.position_from_client_units(position)
    return p.line, p.character

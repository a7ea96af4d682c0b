"""The recording of sequences (mixed into :class:`nndsl.check.record.Recorder`): a
``Sequential`` is a cluster whose children are chained one after another, each named by its
number, as a repeat's copies are."""

from __future__ import annotations

from nndsl.check.record_parts import Cluster, Fragment, Frame
from nndsl.lang import syntax as s


class SequenceRecording:
    def seq(self, check, stmt, flow, scope):
        cluster = Cluster("repeat", stmt.kind, self.frames[-1].cluster, span=stmt.span)
        port = self._port(cluster)
        frame = Frame(cluster, [port], cursor=port, base=cluster)
        self.frames.append(frame)
        try:
            built = check()
        finally:
            self.frames.pop()
        self.made = Fragment(cluster, [port], frame.cursor) if built is not None else None
        return built

    def seq_body(self, check, body, start, scope, count):
        """The children of a block that is a sequence, from the block's input port."""
        frame = self.frames[-1]
        frame.cursor = frame.ins[0] if frame.ins else None
        out = check()
        frame.out = frame.cursor
        return out

    def seq_item(self, check, inner, cur, scope, k):
        frame = self.frames[-1]
        self.made = None
        built = check()
        frag = self.made
        if built is None or frag is None:
            return built
        if not isinstance(inner, s.UseStmt):
            self._name(frag, str(k))
        self.connect(frame.cursor, cur, frag.input(0))
        frame.cursor = frag.out
        return built

"""Diagnostics as values, their codes, and their renderings (text with a caret, one line, JSON)."""

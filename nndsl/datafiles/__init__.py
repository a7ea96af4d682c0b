"""Compile-time inspection of data files (CSV, NumPy, torch) without torch or numpy."""

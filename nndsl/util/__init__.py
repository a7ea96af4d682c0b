"""Leaf helpers every stage may use: the user cache folder, packaged resources, the naming
service."""

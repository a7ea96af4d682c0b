"""The typed program representation: shapes, tensor types and the checked program."""

"""The language's surface: the grammar's parser and the frozen syntax tree it builds."""

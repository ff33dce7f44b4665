"""The admin's answers: the model, the file's spec, loading and checking a file, saving one,
and the secrets it refers to. Pure: reads files, never runs anything."""

"""age encryption of backup files: keys, the file format, and which keys are at hand."""

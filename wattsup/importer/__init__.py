"""IRVE CSV import: reader (encoding, delimiter), rows (schema rules), engine (job, COPY,
merge), cli (terminal progress)."""

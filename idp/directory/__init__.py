"""The school directory: SIECLE / ONDE imports, families, and the claims built on them.

Nothing is imported here, so that `idp.models` can import `idp.directory.models`
without a cycle. Entry points: `importer.import_files`, `family`, `claims.register`,
`cli.directory`, `examples.load_examples`.
"""

"""JSON Schemas of every document drkit stores (shipped in the wheel as drkit.schemas).

Stage: data, read by drkit.backup.schema.
May import: nothing.
"""

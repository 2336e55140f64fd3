"""JSON Schemas of every document drkit stores (shipped in the wheel as drkit.schemas)."""

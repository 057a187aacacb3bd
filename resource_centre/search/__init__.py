"""Full-text search of the fiches (Whoosh): analysis, schema and queries."""

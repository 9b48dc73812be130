"""Tags for every caption, on-screen text and note: topics, keywords, entities, embeddings."""

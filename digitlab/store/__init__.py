"""The run folder and the model registry (cards, LiteRT flatbuffers): each file's only owner, written atomically."""

"""Conversion and graph surgery: Keras student -> builtin-ops int8 flatbuffer, and the rewrites the targets need."""

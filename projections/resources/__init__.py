"""Typed models of the input kinds (Gateway API, core, Envoy Gateway) and decoding of documents into them.

Models are read-only views for translation: the log stores the whole document as submitted, so fields the
models do not name are kept there, never dropped.
"""

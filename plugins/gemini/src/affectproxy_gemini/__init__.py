"""Gemini for affectproxy: the ``gemini`` evaluator and the ``gemini`` LLM provider (see docs/evaluators/gemini.md).

Importing this package imports no SDK: google-genai loads when a provider is built.
"""

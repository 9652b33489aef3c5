"""Evaluation of generated samples."""

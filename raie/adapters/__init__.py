"""Versioned LoRA adapters on disk: the registry the training jobs publish to and serving reads."""

from raie.adapters.registry import ADAPTERS_DIR, AdapterManifest, AdapterRegistry, PublishedAdapter, RegistryError

__all__ = ["ADAPTERS_DIR", "AdapterManifest", "AdapterRegistry", "PublishedAdapter", "RegistryError"]

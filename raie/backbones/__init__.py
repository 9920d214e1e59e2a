"""Sequential recommender backbones, registered by name (``--backbone NAME``)."""

from raie.backbones.base import SequentialRecommender, backbone_names, build_backbone, register_backbone

__all__ = ["SequentialRecommender", "backbone_names", "build_backbone", "register_backbone"]

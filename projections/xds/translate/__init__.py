"""IR -> Envoy v3 resources, incrementally: `XdsTranslator` (see `translator`) and the builders it calls."""

from projections.xds.translate.translator import XdsTranslator, XdsUpdate, build_resource_set

__all__ = ["XdsTranslator", "XdsUpdate", "build_resource_set"]

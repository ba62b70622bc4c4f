"""IR -> Envoy v3 resources, incrementally: `XdsTranslator` per node group, `XdsFleet` for all of them."""

from projections.xds.translate.fleet import XdsFleet
from projections.xds.translate.translator import XdsTranslator, XdsUpdate, build_resource_set

__all__ = ["XdsFleet", "XdsTranslator", "XdsUpdate", "build_resource_set"]

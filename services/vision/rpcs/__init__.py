"""VisionService: the RPCs, one module per resource, joined in one servicer.

Tenancy: an analysis is its caller's (`voka.tenancy`); admins see every one. Anything else is
NOT_FOUND, exactly like a missing analysis.
"""

from __future__ import annotations

from services.vision.rpcs.analyses import AnalysesRpcs
from services.vision.rpcs.images import ImagesRpcs


class VisionServicer(ImagesRpcs, AnalysesRpcs):
    """The vision service's RPCs."""

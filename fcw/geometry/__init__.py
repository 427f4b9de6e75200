"""Online camera geometry: the horizon, the vanishing point and the road's bend, from the video."""
from fcw.geometry.stage import GeometryStage

__all__ = ["GeometryStage"]

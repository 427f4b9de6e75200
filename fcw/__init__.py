"""fcw: forward-collision warning for a monocular dashcam."""
__version__ = "0.1.0"

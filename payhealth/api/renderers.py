"""DRF's browsable API under the Content-Security-Policy, for development (production answers JSON
only). Its pages carry inline styles (Pygments colours, a few style attributes), so its answers
allow inline styles; scripts still come from files only."""

from csp.constants import UNSAFE_INLINE
from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": [UNSAFE_INLINE]}  # read by django-csp's middleware
        return super().render(data, accepted_media_type, renderer_context)

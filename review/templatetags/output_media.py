"""`{% media_src name fallback %}`: where a page's <video> and poster load a file from.

With S3, a presigned URL (the browser fetches straight from the object store; the page that
embeds it was itself permission-checked); otherwise `fallback`, the permission-checking view's URL.
"""

from __future__ import annotations

from django import template

from review.media import media_direct_url

register = template.Library()


@register.simple_tag
def media_src(name: str, fallback: str) -> str:
    return media_direct_url(name) or fallback

"""Share links' own marked copies: a clip leaked from a public link names the link.

On a link's first view its output's video is re-marked with a serial of the link's own: the
output's payload is taken out and the link's put in (same key, same sync; see
`KeyedTileWatermarker.remark`), encoded as the worker encodes, and kept in storage next to nothing
else (`shares/<link>/`). Later views serve the kept copy. Outputs from before marking existed have
no serial to replace: their links serve the output's own file.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import storages

from generation.marking.media import UnreadableMedia, read_rgb
from generation.marks import new_serial, sign_delivered, watermarker
from generation.outputs_store import STORAGE_ERRORS, as_os_error, output_file_local
from generation.pipeline.video import VideoEncodingError, encode_video
from review.models import ShareLink

logger = logging.getLogger(__name__)


def share_link_video_name(*, link: ShareLink) -> str:
    """The file a share link serves: its own marked copy (made now if it has none yet)."""
    output = link.output
    if output.mark_serial is None or output.mark_key_version is None:
        return output.video_name
    marker = watermarker(output.mark_algorithm, output.mark_key_version)
    if not hasattr(marker, "remark"):  # an algorithm that cannot swap payloads: no link copies
        return output.video_name
    storage = storages["outputs"]
    if link.marked_video_name and storage.exists(link.marked_video_name):
        return link.marked_video_name
    try:
        return _make_copy(link, marker)
    except (OSError, UnreadableMedia, VideoEncodingError):
        # The viewer still gets the video (its mark names the output, not the link): a public
        # page never fails because a copy could not be made. The next view tries again.
        logger.exception("Share link %s: no marked copy; serving the output's own file", link.pk)
        return output.video_name


def share_link_poster_name(*, link: ShareLink) -> str:
    if link.marked_video_name:
        poster = str(Path(link.marked_video_name).with_name("poster.jpg"))
        if storages["outputs"].exists(poster):
            return poster
    return link.output.poster_name


def _link_serial(link: ShareLink) -> int:
    """The link's serial, chosen once: concurrent first views agree on it (so their copies are
    the same file, whichever is written last)."""
    if link.mark_serial is None:
        ShareLink.objects.filter(id=link.id, mark_serial__isnull=True).update(
            mark_serial=new_serial(share_link=True)
        )
        link.refresh_from_db(fields=["mark_serial"])
    assert link.mark_serial is not None
    return link.mark_serial


def _make_copy(link: ShareLink, marker: Any) -> str:
    output = link.output
    serial = _link_serial(link)
    folder = f"shares/{link.pk}"
    with output_file_local(output.video_name) as source:
        frames, _fps = read_rgb(source)
    marker.remark(frames, old=output.mark_serial, new=serial)
    with tempfile.TemporaryDirectory(prefix="vernissage-share-") as scratch:
        video, poster = Path(scratch, "video.mp4"), Path(scratch, "poster.jpg")
        encode_video(frames, fps=output.fps, video_path=video, poster_path=poster)
        sign_delivered(video, serial=serial)
        for path in (poster, video):  # the poster first: a named video always has its poster
            _store_as(f"{folder}/{path.name}", path)
    name = f"{folder}/video.mp4"
    ShareLink.objects.filter(id=link.id).update(marked_video_name=name)
    link.marked_video_name = name
    logger.info("Share link %s got its own marked copy (serial %s)", link.pk, serial)
    return name


def _store_as(name: str, path: Path) -> None:
    """Store `path` as exactly `name`. If a concurrent first view stored it first (the storage then
    picks another name for ours), theirs stays: same serial, same picture."""
    storage = storages["outputs"]
    try:
        with path.open("rb") as handle:
            saved = storage.save(name, File(handle, name=path.name))
    except STORAGE_ERRORS as exc:
        raise as_os_error(exc) from exc
    if saved != name:
        storage.delete(saved)

"""Which frames a frame-browser card can show as an <img> (pure)."""

from __future__ import annotations

import pytest

from ingest.web.pages import sensor_kind


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        ({"source": "s3://b/cam/0001.jpg"}, "image"),
        ({"source": "file:///d/lidar/0001.pcd"}, "point cloud"),
        ({"source": "https://h/x", "content_type": "application/pcd"}, "point cloud"),
        ({"source": "https://h/clip.MP4?sig=1"}, "video"),
        ({"source": "https://h/clip", "content_type": "video/webm"}, "video"),
        ({"source": "https://h/a.mp4", "content_type": "image/jpeg"}, "image"),
        ({"source": "/d/lidar.pcd", "preview_uri": "/d/lidar.png"}, "image"),  # its preview
    ],
)
def test_sensor_kind(frame: dict[str, str], kind: str) -> None:
    assert sensor_kind(frame) == kind

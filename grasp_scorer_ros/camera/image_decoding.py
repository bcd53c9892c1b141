"""Between the fields of a ``sensor_msgs/Image`` and an RGB ``uint8`` numpy array ``(H, W, 3)``.

No rclpy and no cv_bridge: ROS 2's cv_bridge is not installable in this package's environment,
and the PyPI ``cv-bridge`` package is a port of ROS 1's, whose encoding tables do not match ROS
2's for some encodings. For the 8-bit encodings a colour camera publishes, the conversion is a
reshape plus a channel reorder, or one OpenCV conversion (YUV 4:2:2, Bayer demosaicing, JPEG/PNG),
so it is done here and tested.

Layout of ``sensor_msgs/Image`` data: ``height`` rows of ``step`` bytes each; a row holds
``width * channels`` bytes of pixels, then ``step - width * channels`` padding bytes, which are
ignored. ``is_bigendian`` has no effect on 8-bit channels.
"""
from __future__ import annotations

import array

import cv2
import numpy as np

# Bytes per pixel of each encoding decoded here (8 bits per channel). What camera drivers send:
# the colour orders, YUV 4:2:2 (usb_cam's yuv422_yuy2; "uyvy", which ROS also calls "yuv422"), the
# raw Bayer mosaics of industrial cameras, and the OpenCV type names cv_bridge's passthrough gives
# (8UC3 and 8UC4 in OpenCV's BGR and BGRA order, 8UC1 grey).
CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4,
            "8UC1": 1, "8UC3": 3, "8UC4": 4,
            "yuv422_yuy2": 2, "uyvy": 2, "yuv422": 2,
            "bayer_rggb8": 1, "bayer_bggr8": 1, "bayer_gbrg8": 1, "bayer_grbg8": 1}
SUPPORTED_ENCODINGS = tuple(CHANNELS)
OUTPUT_ENCODINGS = ("rgb8", "bgr8", "mono8", "rgba8", "bgra8")   # what rgb_to_image_fields writes
# OpenCV names a Bayer pattern by the second row's first two pixels, ROS by the first row's
# (as cv_bridge maps them): ROS rggb is OpenCV BG.
_BAYER = {"bayer_rggb8": cv2.COLOR_BayerBG2RGB, "bayer_bggr8": cv2.COLOR_BayerRG2RGB,
          "bayer_gbrg8": cv2.COLOR_BayerGR2RGB, "bayer_grbg8": cv2.COLOR_BayerGB2RGB}
_YUV422 = {"yuv422_yuy2": cv2.COLOR_YUV2RGB_YUY2, "uyvy": cv2.COLOR_YUV2RGB_UYVY, "yuv422": cv2.COLOR_YUV2RGB_UYVY}


class ImageFormatError(ValueError):
    """Image fields that do not describe a valid image in a supported encoding."""


def image_fields_to_rgb(*, encoding: str, height: int, width: int, step: int, data,
                        is_bigendian=0) -> np.ndarray:
    """RGB image ``(height, width, 3)`` ``uint8`` from ``sensor_msgs/Image`` fields.

    ``data`` may be ``bytes``, ``bytearray``, ``memoryview``, ``array.array('B')`` (what rclpy
    gives), a ``uint8`` numpy array, or a list of ints. ``mono8`` is replicated to 3 channels,
    alpha is dropped. The result is a new C-contiguous array, never a view of ``data``.

    ``len(data)`` must be exactly ``step * height``, as the message definition states: a shorter
    buffer is truncated, and a longer one means ``height``/``step`` do not describe the buffer, so
    decoding it would produce a sheared or shifted image. Every problem raises
    :class:`ImageFormatError` naming the numbers involved.
    """
    del is_bigendian  # no effect on 8-bit channels; accepted so a message's fields pass as-is
    channels = _channels(encoding)
    height = positive_int(height, "height")
    width = positive_int(width, "width")
    step = positive_int(step, "step")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageFormatError(
            f"step {step} is smaller than width * channels = {width} * {channels} = {row_bytes} "
            f"for encoding '{encoding}'")
    buffer = as_byte_array(data)
    expected = step * height
    if buffer.size < expected:
        raise ImageFormatError(
            f"image data is truncated: {buffer.size} bytes, expected step * height = "
            f"{step} * {height} = {expected}")
    if buffer.size > expected:
        raise ImageFormatError(
            f"image data has {buffer.size} bytes, more than step * height = {step} * {height} = "
            f"{expected}: height or step does not match the buffer")

    if encoding in _YUV422 and width % 2:
        raise ImageFormatError(f"encoding '{encoding}' needs an even width (two pixels share U and V), "
                               f"got {width}")
    pixels = buffer.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if encoding == "rgb8":
        rgb = pixels
    elif encoding in ("bgr8", "8UC3"):
        rgb = pixels[..., ::-1]
    elif encoding in ("mono8", "8UC1"):
        rgb = np.repeat(pixels, 3, axis=2)
    elif encoding == "rgba8":
        rgb = pixels[..., :3]
    elif encoding in ("bgra8", "8UC4"):
        rgb = pixels[..., 2::-1]
    elif encoding in _YUV422:
        rgb = cv2.cvtColor(np.ascontiguousarray(pixels), _YUV422[encoding])
    else:  # a Bayer mosaic, demosaiced by OpenCV
        rgb = cv2.cvtColor(np.ascontiguousarray(pixels[..., 0]), _BAYER[encoding])
    return np.array(rgb, dtype=np.uint8, order="C", copy=True)


def compressed_to_rgb(format: str, data) -> np.ndarray:
    """RGB image ``(H, W, 3)`` from a ``sensor_msgs/CompressedImage``'s ``format`` and ``data``
    (JPEG or PNG, as image_transport's compressed plugin writes them; OpenCV decodes, whatever
    the format string says)."""
    buffer = as_byte_array(data)
    if buffer.size == 0:
        raise ImageFormatError(f"compressed image ('{format}') has no data")
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageFormatError(f"compressed image ('{format}', {buffer.size} bytes) could not be decoded "
                               f"(JPEG and PNG are)")
    return np.ascontiguousarray(bgr[..., ::-1])


def image_msg_to_rgb(msg) -> np.ndarray:
    """:func:`image_fields_to_rgb` of anything with the ``sensor_msgs/Image`` attributes, or
    :func:`compressed_to_rgb` of a ``sensor_msgs/CompressedImage`` (it has ``format``)."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_rgb(msg.format, msg.data)
    return image_fields_to_rgb(encoding=msg.encoding, height=msg.height, width=msg.width,
                               step=msg.step, data=msg.data, is_bigendian=msg.is_bigendian)


def rgb_to_image_fields(rgb, encoding: str = "rgb8") -> dict:
    """``sensor_msgs/Image`` fields for an RGB ``uint8`` image ``(H, W, 3)``, without padding.

    Returns ``dict(height, width, step, encoding, is_bigendian, data)``, ready for
    ``Image(**fields)``. ``data`` is an ``array.array('B')``, not ``bytes``: rclpy stores an
    ``array.array`` as is, but checks any other sequence item by item (about 0.35 s for a
    1280x720 RGB frame); ``bytes(fields['data'])`` gives the bytes. ``mono8`` uses OpenCV's
    luma weights (0.299 R + 0.587 G + 0.114 B); alpha, for ``rgba8``/``bgra8``, is 255.
    """
    if encoding not in OUTPUT_ENCODINGS:
        raise ImageFormatError(f"cannot write encoding {encoding!r} (writes: {', '.join(OUTPUT_ENCODINGS)})")
    channels = _channels(encoding)
    image = np.asarray(rgb)
    if image.dtype != np.uint8:
        raise ImageFormatError(f"RGB image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageFormatError(
            f"RGB image must have shape (H, W, 3) with H, W > 0, got {image.shape}")
    height, width = image.shape[:2]
    if encoding == "rgb8":
        pixels = image
    elif encoding == "bgr8":
        pixels = image[..., ::-1]
    elif encoding == "mono8":
        pixels = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    else:
        alpha = np.full((height, width, 1), 255, dtype=np.uint8)
        colour = image if encoding == "rgba8" else image[..., ::-1]
        pixels = np.concatenate([colour, alpha], axis=2)
    return {
        "height": int(height),
        "width": int(width),
        "step": int(width * channels),
        "encoding": encoding,
        "is_bigendian": 0,
        "data": array.array("B", np.ascontiguousarray(pixels).tobytes()),
    }


def _channels(encoding) -> int:
    if encoding not in CHANNELS:
        raise ImageFormatError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    return CHANNELS[encoding]


def positive_int(value, name: str) -> int:
    """``value`` as an ``int`` where it is a positive integer (a Python or numpy integer, not a
    ``bool``); else :class:`ImageFormatError` naming the field ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageFormatError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ImageFormatError(f"{name} must be positive, got {value}")
    return int(value)


def as_byte_array(data) -> np.ndarray:
    """The message's data as a flat ``uint8`` array (a view where possible, copied later)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageFormatError(f"image data array must be uint8, got {data.dtype}")
        return data.reshape(-1)
    if isinstance(data, (list, tuple)):
        values = np.asarray(data)
        if values.size and not (values.dtype.kind in "iu"
                                and values.min() >= 0 and values.max() <= 255):
            raise ImageFormatError("image data list must hold integers in [0, 255]")
        return values.astype(np.uint8).reshape(-1)
    try:
        view = memoryview(data)
    except TypeError:
        raise ImageFormatError(
            f"image data must be bytes-like, got {type(data).__name__}") from None
    if view.itemsize != 1:
        raise ImageFormatError(f"image data must be bytes, got items of {view.itemsize} bytes")
    return np.frombuffer(view if view.c_contiguous else view.tobytes(), dtype=np.uint8)

"""Tests of grasp_scorer_ros.camera.image_decoding: byte layouts written out by hand."""
import array
from types import SimpleNamespace

import numpy as np
import pytest

from grasp_scorer_ros.camera.image_decoding import (SUPPORTED_ENCODINGS, ImageFormatError,
                                                    image_fields_to_rgb, image_msg_to_rgb,
                                                    rgb_to_image_fields)

# A 2 x 3 RGB image with distinct values in every byte.
RGB = np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 7 + 1


def fields(encoding, pixels, padding=0, pad_byte=0xEE):
    """Message fields for pixels (H, W, C) in the encoding's channel order, rows padded."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, padding), pad_byte, np.uint8)], axis=1)
    return dict(encoding=encoding, height=height, width=width, step=padded.shape[1],
                is_bigendian=0, data=padded.tobytes())


def encode(encoding, rgb):
    """The encoding's channels, built independently of the module."""
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)  # any alpha: it must be dropped
    return {
        "rgb8": rgb,
        "bgr8": rgb[..., [2, 1, 0]],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[..., [2, 1, 0]], alpha], axis=2),
        "8UC3": rgb[..., [2, 1, 0]],                                        # cv_bridge's BGR order
        "8UC4": np.concatenate([rgb[..., [2, 1, 0]], alpha], axis=2),
    }[encoding]


# ---------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", [0, 1, 5])
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "8UC4"])
def test_colour_encodings_with_and_without_row_padding(encoding, padding):
    result = image_fields_to_rgb(**fields(encoding, encode(encoding, RGB), padding))
    assert result.dtype == np.uint8 and result.shape == (2, 3, 3)
    np.testing.assert_array_equal(result, RGB)


def test_byte_order_of_one_pixel():
    bgr = dict(encoding="bgr8", height=1, width=1, step=3, data=bytes([10, 20, 30]))
    np.testing.assert_array_equal(image_fields_to_rgb(**bgr)[0, 0], [30, 20, 10])
    bgra = dict(encoding="bgra8", height=1, width=1, step=4, data=bytes([10, 20, 30, 40]))
    np.testing.assert_array_equal(image_fields_to_rgb(**bgra)[0, 0], [30, 20, 10])
    rgba = dict(encoding="rgba8", height=1, width=1, step=4, data=bytes([10, 20, 30, 40]))
    np.testing.assert_array_equal(image_fields_to_rgb(**rgba)[0, 0], [10, 20, 30])


@pytest.mark.parametrize("padding", [0, 3])
def test_mono8_is_replicated_to_three_channels(padding):
    gray = np.array([[0, 50, 255], [7, 8, 9]], np.uint8)[..., None]
    result = image_fields_to_rgb(**fields("mono8", gray, padding))
    assert result.shape == (2, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(result[..., channel], gray[..., 0])


def test_padding_bytes_never_leak_into_pixels():
    # Padding 0xEE never occurs in RGB, so any leak would show up.
    assert not np.any(RGB == 0xEE)
    result = image_fields_to_rgb(**fields("rgb8", RGB, padding=7))
    assert not np.any(result == 0xEE)


@pytest.mark.parametrize("wrap", [
    bytes, bytearray, memoryview, lambda b: array.array("B", b),
    lambda b: np.frombuffer(b, np.uint8), lambda b: np.frombuffer(b, np.uint8).reshape(2, -1),
    list,
], ids=["bytes", "bytearray", "memoryview", "array.array", "numpy", "numpy 2d", "list"])
def test_data_container_types(wrap):
    f = fields("rgb8", RGB, padding=2)
    f["data"] = wrap(f["data"])
    np.testing.assert_array_equal(image_fields_to_rgb(**f), RGB)


def test_result_is_a_writable_copy():
    data = bytearray(fields("rgb8", RGB)["data"])
    result = image_fields_to_rgb(encoding="rgb8", height=2, width=3, step=9, data=data)
    assert result.flags.c_contiguous and result.flags.writeable
    result[:] = 0
    data[0] = 99
    assert bytes(data[1:]) == fields("rgb8", RGB)["data"][1:]
    assert result.max() == 0


def test_image_msg_to_rgb_reads_message_attributes():
    msg = SimpleNamespace(**fields("bgr8", encode("bgr8", RGB), padding=4))
    msg.data = array.array("B", msg.data)  # as rclpy hands it over
    np.testing.assert_array_equal(image_msg_to_rgb(msg), RGB)


def test_big_endian_flag_does_not_matter_for_8_bit():
    f = fields("rgb8", RGB)
    f["is_bigendian"] = 1
    np.testing.assert_array_equal(image_fields_to_rgb(**f), RGB)


# ---------------------------------------------------------------------------------------------
# decoding errors
# ---------------------------------------------------------------------------------------------

def decode_error(**changes):
    f = fields("rgb8", RGB, padding=2)  # height 2, width 3, step 11, 22 bytes
    f.update(changes)
    with pytest.raises(ImageFormatError) as error:
        image_fields_to_rgb(**f)
    return str(error.value)


@pytest.mark.parametrize("encoding", ["yuv420", "8UC2", "RGB8", "mono16", "bayer_rggb16", "", None])
def test_unsupported_encoding_lists_the_supported_ones(encoding):
    message = decode_error(encoding=encoding)
    assert f"unsupported encoding {encoding!r}" in message
    for supported in SUPPORTED_ENCODINGS:
        assert supported in message


@pytest.mark.parametrize("name", ["height", "width", "step"])
@pytest.mark.parametrize("value", [0, -3])
def test_non_positive_sizes(name, value):
    assert decode_error(**{name: value}) == f"{name} must be positive, got {value}"


@pytest.mark.parametrize("value", [2.0, "2", True, None])
def test_non_integer_sizes(value):
    assert "height must be an integer" in decode_error(height=value)


def test_step_smaller_than_a_row():
    message = decode_error(step=8, data=bytes(16))
    assert "step 8" in message and "3 * 3 = 9" in message


def test_truncated_data():
    message = decode_error(data=bytes(21))
    assert "truncated" in message and "21 bytes" in message and "11 * 2 = 22" in message


def test_too_much_data():
    message = decode_error(data=bytes(23))
    assert "23 bytes" in message and "11 * 2 = 22" in message


def test_wrong_step_is_caught_by_the_length_check():
    # The sender forgot the padding in step: the buffer holds 2 rows of 11 bytes, not of 9.
    assert "more than step * height" in decode_error(step=9)


@pytest.mark.parametrize("data, message", [
    (np.zeros(22, np.uint16), "must be uint8"),
    (array.array("H", [0] * 11), "items of 2 bytes"),
    ([0] * 21 + [256], "integers in [0, 255]"),
    ([0] * 21 + [-1], "integers in [0, 255]"),
    ([0.5] * 22, "integers in [0, 255]"),
    ("x" * 22, "bytes-like"),
    (None, "bytes-like"),
])
def test_bad_data_containers(data, message):
    assert message in decode_error(data=data)


# ---------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_rgb_to_image_fields_round_trip(encoding):
    f = rgb_to_image_fields(RGB, encoding)
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}[encoding]
    assert f["encoding"] == encoding
    assert (f["height"], f["width"], f["step"], f["is_bigendian"]) == (2, 3, 3 * channels, 0)
    # array.array('B'): what rclpy stores without checking every byte in Python.
    assert isinstance(f["data"], array.array) and f["data"].typecode == "B"
    assert len(f["data"]) == f["step"] * f["height"]
    np.testing.assert_array_equal(image_fields_to_rgb(**f), RGB)


def test_rgb_to_image_fields_byte_order():
    pixel = np.array([[[10, 20, 30]]], np.uint8)
    assert bytes(rgb_to_image_fields(pixel)["data"]) == bytes([10, 20, 30])
    assert bytes(rgb_to_image_fields(pixel, "bgr8")["data"]) == bytes([30, 20, 10])
    assert bytes(rgb_to_image_fields(pixel, "rgba8")["data"]) == bytes([10, 20, 30, 255])
    assert bytes(rgb_to_image_fields(pixel, "bgra8")["data"]) == bytes([30, 20, 10, 255])


def test_rgb_to_mono8_uses_luma():
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 100, 100]]], np.uint8)
    f = rgb_to_image_fields(pixels, "mono8")
    assert (f["height"], f["width"], f["step"]) == (1, 4, 4)
    assert list(f["data"]) == [76, 150, 29, 100]  # round(0.299 * 255), round(0.587 * 255), ...


def test_rgb_to_image_fields_accepts_views():
    big = np.tile(RGB, (1, 2, 1))
    view = big[:, ::2]  # not contiguous
    np.testing.assert_array_equal(image_fields_to_rgb(**rgb_to_image_fields(view, "bgr8")), view)


@pytest.mark.parametrize("image, encoding, message", [
    (RGB.astype(np.float32), "rgb8", "must be uint8"),
    (RGB[..., 0], "rgb8", "(H, W, 3)"),
    (np.zeros((2, 3, 4), np.uint8), "rgb8", "(H, W, 3)"),
    (np.zeros((0, 3, 3), np.uint8), "rgb8", "(H, W, 3)"),
    (RGB, "yuv422", "cannot write encoding 'yuv422'"),
    (RGB, "rgb16", "cannot write encoding 'rgb16'"),
])
def test_rgb_to_image_fields_errors(image, encoding, message):
    with pytest.raises(ImageFormatError) as error:
        rgb_to_image_fields(image, encoding)
    assert message in str(error.value)


# ---------------------------------------------------------------------------------------------
# what camera drivers send besides the colour orders: YUV 4:2:2, Bayer, compressed
# ---------------------------------------------------------------------------------------------

def yuv422(rgb, order):
    """4:2:2 bytes of ``rgb`` by hand (BT.601 studio swing, Y in 16-235, as V4L2 cameras send it
    and OpenCV decodes it): Y per pixel, U and V averaged over each horizontal pair; ``order``
    "yuyv" or "uyvy"."""
    r, g, b = [rgb[..., i].astype(np.float64) for i in range(3)]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u = (u[:, 0::2] + u[:, 1::2]) / 2
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    y0, y1 = y[:, 0::2], y[:, 1::2]
    parts = [y0, u, y1, v] if order == "yuyv" else [u, y0, v, y1]
    packed = np.stack(parts, axis=-1).reshape(rgb.shape[0], rgb.shape[1], 2)
    return np.clip(np.round(packed), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("encoding, order", [("yuv422_yuy2", "yuyv"), ("uyvy", "uyvy"), ("yuv422", "uyvy")])
def test_yuv422_decodes_to_the_colours_it_was_made_from(encoding, order):
    # flat colour patches two pixels wide, so that the shared U and V are exact
    colours = np.array([[200, 30, 40], [20, 180, 60], [30, 40, 220], [128, 128, 128]], np.uint8)
    rgb = np.repeat(np.repeat(colours[None], 4, axis=0), 2, axis=1)          # 4 x 8
    result = image_fields_to_rgb(**fields(encoding, yuv422(rgb, order), padding=4))
    assert result.shape == (4, 8, 3)
    assert np.abs(result.astype(int) - rgb).max() <= 6


def test_yuv422_needs_an_even_width():
    with pytest.raises(ImageFormatError, match="even width"):
        image_fields_to_rgb(encoding="yuv422_yuy2", height=1, width=3, step=6, data=bytes(6))


@pytest.mark.parametrize("encoding, pattern", [("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"),
                                               ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")])
def test_bayer_mosaics_are_demosaiced_to_their_colour(encoding, pattern):
    """A flat colour, sampled as the pattern says (first row: pattern[0:2], second: pattern[2:4]),
    comes back as that colour: a wrong pattern would swap red and blue."""
    colour = {"R": 210, "G": 90, "B": 30}
    mosaic = np.zeros((8, 8, 1), np.uint8)
    for i, channel in enumerate(pattern):
        mosaic[i // 2::2, i % 2::2, 0] = colour[channel]
    result = image_fields_to_rgb(**fields(encoding, mosaic, padding=3))
    assert result.shape == (8, 8, 3)
    np.testing.assert_array_equal(result[2:6, 2:6].reshape(-1, 3).mean(axis=0).round(), [210, 90, 30])


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_images_decode_with_opencv(extension):
    import cv2
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (220, 40, 30)
    rgb[:, 12:] = (20, 60, 200)
    ok, data = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    message = SimpleNamespace(format="rgb8; jpeg compressed bgr8" if extension == ".jpg" else "png",
                              data=array.array("B", data.tobytes()))
    result = image_msg_to_rgb(message)
    assert result.shape == (16, 24, 3)
    tolerance = 0 if extension == ".png" else 12
    assert np.abs(result.astype(int) - rgb)[:, [2, 21]].max() <= tolerance


@pytest.mark.parametrize("data, message", [(b"", "has no data"), (b"\x89PNG garbage", "could not be decoded")])
def test_bad_compressed_images_are_refused_with_a_reason(data, message):
    with pytest.raises(ImageFormatError, match=message):
        image_msg_to_rgb(SimpleNamespace(format="png", data=data))

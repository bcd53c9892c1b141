"""Loaders in the native Cornell and Jacquard formats, on small files written here, awkward ones included.

Covers the package's loaders (datasets/__init__.py: load_dataset), datasets/jacquard.py, datasets/cornell.py,
datasets/sample.py and datasets/torch_dataset.py (one file: they share the image and grasp writers)."""
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from grasp_scorer_ros.datasets import (GraspSample, ImageReadError, LoadReport, PhotometricAugmentation,
                                       load_cornell, load_dataset, load_jacquard, load_rgb)
from grasp_scorer_ros.datasets.torch_dataset import GraspTorchDataset, collate_grasps
from grasp_scorer_ros.grasp import angle_difference, grasp_corners


def _write_png(path: Path, height=48, width=64, rgb=(200, 30, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = rgb[::-1]  # OpenCV writes BGR
    assert cv2.imwrite(str(path), image)
    return path


def _assert_same_grasps(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got[:, :4], expected[:, :4], atol=1e-6)
    assert np.all(angle_difference(got[:, 4], expected[:, 4]) < 1e-6)


# ----------------------------------------------------------------------------------------- Jacquard

JACQUARD_GOOD = np.array([[30.5, 20.0, 18.0, 6.0, 35.0], [10.0, 12.0, 9.0, 4.0, -80.0]])  # [x, y, w, h, theta]


def _jacquard_line(g):
    x, y, w, h, theta = g
    return f"{x};{y};{theta};{w};{h}"


@pytest.fixture
def jacquard_root(tmp_path):
    """One folder per object, as in the real dataset, with every awkward case."""
    root = tmp_path / "jacquard"
    obj = root / "1a2b3c"
    _write_png(obj / "0_1a2b3c_RGB.png")                              # LF, plus a NaN and a bad line
    (obj / "0_1a2b3c_grasps.txt").write_bytes(
        ("\n".join([_jacquard_line(JACQUARD_GOOD[0]), "nan;1;2;3;4", "1;2;3", "",
                    _jacquard_line(JACQUARD_GOOD[1])]) + "\n").encode())
    _write_png(obj / "1_1a2b3c_RGB.png")                              # CRLF, theta out of range
    (obj / "1_1a2b3c_grasps.txt").write_bytes(b"5;6;100;20;8\r\n7;8;-30;10;5\r\n")
    other = root / "ffee99"
    _write_png(other / "0_ffee99_RGB.png")                            # empty grasp file
    (other / "0_ffee99_grasps.txt").write_bytes(b"")
    _write_png(other / "1_ffee99_RGB.png")                            # no grasp file
    (other / "2_ffee99_RGB.png").write_bytes(b"this is not a png")     # unreadable image
    (other / "2_ffee99_grasps.txt").write_text("1;2;3;4;5\n")
    _write_png(other / "3_ffee99_RGB.png")                            # only NaN lines
    (other / "3_ffee99_grasps.txt").write_text("nan;nan;nan;nan;nan\n")
    _write_png(other / "4_ffee99_RGB.png")                            # fine
    (other / "4_ffee99_grasps.txt").write_text("40;30;0;12;6\n")
    return root


def test_jacquard_reads_values_in_the_package_convention(jacquard_root):
    samples = load_jacquard(jacquard_root)
    by_name = {s.image_path.name: s for s in samples}
    assert sorted(by_name) == ["0_1a2b3c_RGB.png", "1_1a2b3c_RGB.png", "4_ffee99_RGB.png"]
    _assert_same_grasps(by_name["0_1a2b3c_RGB.png"].grasps, JACQUARD_GOOD)
    # CRLF lines; theta 100 wraps to -80 (same grasp, modulo 180).
    _assert_same_grasps(by_name["1_1a2b3c_RGB.png"].grasps, [[5, 6, 20, 8, -80], [7, 8, 10, 5, -30]])
    assert by_name["0_1a2b3c_RGB.png"].object_id == "1a2b3c"
    assert by_name["4_ffee99_RGB.png"].object_id == "ffee99"


def test_jacquard_skips_awkward_files_with_warnings_that_name_them(jacquard_root, caplog):
    report = LoadReport("Jacquard", jacquard_root)
    with caplog.at_level(logging.WARNING):
        load_jacquard(jacquard_root, report=report)
    skipped = {p.name: reason for p, reason in report.skipped}
    assert set(skipped) == {"0_ffee99_RGB.png", "1_ffee99_RGB.png", "2_ffee99_RGB.png", "3_ffee99_RGB.png"}
    assert skipped["0_ffee99_RGB.png"].startswith("no valid grasp")
    assert skipped["1_ffee99_RGB.png"].startswith("no grasp file")
    assert skipped["2_ffee99_RGB.png"].startswith("unreadable image")
    assert skipped["3_ffee99_RGB.png"].startswith("no valid grasp")
    assert report.images_found == 7 and report.samples == 3 and report.grasps == 5
    assert report.nan_rectangles == 2 and report.invalid_lines == 1
    for name in skipped:
        assert any(name in record.getMessage() for record in caplog.records), name
    assert any("0_1a2b3c_grasps.txt line 3" in r.getMessage() for r in caplog.records)  # the bad line
    assert "4 images skipped" in report.summary()


def test_jacquard_non_standard_name_uses_folder_as_object(tmp_path, caplog):
    _write_png(tmp_path / "objX" / "view_RGB.png")
    (tmp_path / "objX" / "view_grasps.txt").write_text("1;2;3;4;5\n")
    with caplog.at_level(logging.WARNING):
        samples = load_jacquard(tmp_path)
    # "view_RGB.png" has no <i>_ part: the folder names the object.
    assert samples[0].object_id == "objX"
    assert any("view_RGB.png" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------ Cornell

def _cornell_lines(grasps):
    return "".join(f"{x:.6f} {y:.6f}\n" for g in grasps for x, y in grasp_corners(g))


CORNELL_POS = np.array([[320.0, 240.0, 60.0, 20.0, 25.0], [300.0, 200.0, 40.0, 15.0, -60.0]])
CORNELL_NEG = np.array([[100.0, 100.0, 50.0, 20.0, 0.0]])


@pytest.fixture
def cornell_root(tmp_path):
    root = tmp_path / "cornell"
    folder = root / "01"
    _write_png(folder / "pcd0100r.png", 480, 640)
    nan_rect = "NaN NaN\n" + "1 2\n" * 3
    (folder / "pcd0100cpos.txt").write_text(_cornell_lines(CORNELL_POS[:1]) + nan_rect + _cornell_lines(CORNELL_POS[1:]))
    (folder / "pcd0100cneg.txt").write_text(_cornell_lines(CORNELL_NEG))
    _write_png(folder / "pcd0101r.png", 480, 640)                      # only NaN rectangles
    (folder / "pcd0101cpos.txt").write_text(nan_rect)
    _write_png(folder / "pcd0102r.png", 480, 640)                      # no cpos file
    _write_png(folder / "pcd0103r.png", 480, 640)                      # malformed cpos
    (folder / "pcd0103cpos.txt").write_text("1 2\nthree 4\n5 6\n7 8\n")
    _write_png(folder / "pcd0104r.png", 480, 640)                      # CRLF, fine
    (folder / "pcd0104cpos.txt").write_bytes(_cornell_lines(CORNELL_POS[:1]).replace("\n", "\r\n").encode())
    (folder / "pcd0105r.png").write_bytes(b"")                          # empty image file
    (folder / "pcd0105cpos.txt").write_text(_cornell_lines(CORNELL_POS[:1]))
    return root


def test_cornell_first_edge_is_the_opening_axis(cornell_root):
    samples = load_cornell(cornell_root)
    by_name = {s.image_path.name: s for s in samples}
    assert sorted(by_name) == ["pcd0100r.png", "pcd0104r.png"]
    _assert_same_grasps(by_name["pcd0100r.png"].grasps, CORNELL_POS)  # the NaN rectangle is skipped
    _assert_same_grasps(by_name["pcd0100r.png"].negative_grasps, CORNELL_NEG)
    _assert_same_grasps(by_name["pcd0104r.png"].grasps, CORNELL_POS[:1])


def test_cornell_skips_and_counts(cornell_root, caplog):
    report = LoadReport("Cornell", cornell_root)
    with caplog.at_level(logging.WARNING):
        load_cornell(cornell_root, report=report)
    skipped = {p.name: reason for p, reason in report.skipped}
    assert set(skipped) == {"pcd0101r.png", "pcd0102r.png", "pcd0103r.png", "pcd0105r.png"}
    assert "NaN" in skipped["pcd0101r.png"]
    assert skipped["pcd0102r.png"].startswith("no grasp file")
    assert "pcd0103cpos.txt line 2" in skipped["pcd0103r.png"]
    assert skipped["pcd0105r.png"].startswith("unreadable image")
    assert report.nan_rectangles == 2 and report.negative_grasps == 1 and report.samples == 2
    for name in skipped:
        assert any(name in r.getMessage() for r in caplog.records), name


def test_cornell_object_ids_from_z_txt(cornell_root, caplog):
    # z.txt: one line per rectangle, "<image id> <object id> <description> <background>".
    (cornell_root / "z.txt").write_text("0100 7 mug pcdb0003r\n0100 7 mug pcdb0003r\n0104 12 shoe pcdb0004r\n")
    samples = load_cornell(cornell_root)
    assert {s.image_path.name: s.object_id for s in samples} == {"pcd0100r.png": "7", "pcd0104r.png": "12"}


def test_cornell_without_object_map_warns_and_uses_one_object_per_image(cornell_root, caplog):
    with caplog.at_level(logging.WARNING):
        samples = load_cornell(cornell_root)
    assert [s.object_id for s in samples] == ["pcd0100", "pcd0104"]
    assert any("z.txt" in r.getMessage() and "image-wise" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kind,pattern", [("jacquard", "*_RGB.png"), ("cornell", "pcd*r.png")])
def test_root_without_images_names_root_and_pattern(tmp_path, kind, pattern):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(FileNotFoundError) as error:
        load_dataset(kind, tmp_path)
    assert str(tmp_path) in str(error.value) and pattern in str(error.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(kind, tmp_path / "missing")


def test_unknown_dataset_kind():
    with pytest.raises(ValueError, match="cornell, jacquard"):
        load_dataset("imagenet", ".")


def test_load_rgb_returns_rgb_and_names_corrupt_files(tmp_path):
    path = _write_png(tmp_path / "a.png", rgb=(200, 30, 10))
    image = load_rgb(path)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    assert tuple(image[0, 0]) == (200, 30, 10)
    data = path.read_bytes()
    broken = tmp_path / "broken.png"
    broken.write_bytes(data[: len(data) // 2])  # valid header, truncated data
    with pytest.raises(ImageReadError, match="broken.png"):
        load_rgb(broken)
    with pytest.raises(ImageReadError, match="missing.png"):
        load_rgb(tmp_path / "missing.png")


# ---------------------------------------------------------------------------------- torch dataset

def test_torch_dataset_shapes_and_substitutes_undecodable_images(tmp_path, caplog):
    good = _write_png(tmp_path / "0_objA_RGB.png", 480, 640, rgb=(255, 0, 0))
    data = good.read_bytes()
    truncated = tmp_path / "1_objB_RGB.png"
    truncated.write_bytes(data[:60])  # passes the header check at load time, fails to decode
    grasps = np.array([[320.0, 240.0, 60.0, 20.0, 10.0]])
    samples = [GraspSample(good, "objA", grasps), GraspSample(truncated, "objB", grasps)]

    test_set = GraspTorchDataset(samples, train=False, size=320)
    image, target = test_set[0]
    assert image.shape == (3, 320, 320) and image.dtype == torch.float32
    assert float(image.max()) <= 1.0 and float(image.min()) >= 0.0
    assert torch.allclose(image[:, 160, 160], torch.tensor([1.0, 0.0, 0.0]))  # RGB order
    np.testing.assert_allclose(target.numpy(), [[159.75, 159.75, 30.0, 10.0, 10.0]], atol=1e-4)

    with caplog.at_level(logging.WARNING):
        image_b, _ = test_set[1]  # undecodable: replaced by the next sample, with a warning
    assert torch.equal(image_b, image)
    assert any("1_objB_RGB.png" in r.getMessage() for r in caplog.records)

    train_set = GraspTorchDataset(samples[:1], train=True, size=320, seed=3)
    batch_images, batch_grasps = collate_grasps([train_set[0], train_set[0]])
    assert batch_images.shape == (2, 3, 320, 320) and len(batch_grasps) == 2
    assert not torch.equal(batch_images[0], batch_images[1])  # a new augmentation each time
    assert all(g.shape[1] == 5 and g.dtype == torch.float32 for g in batch_grasps)


def test_data_loader_workers_draw_different_augmentations(tmp_path):
    path = _write_png(tmp_path / "0_objA_RGB.png", 120, 160)
    image = cv2.imread(str(path))
    image[40:80, 60:100] = (0, 255, 255)  # something for the augmentation to move
    cv2.imwrite(str(path), image)
    samples = [GraspSample(path, "objA", np.array([[80.0, 60.0, 40.0, 10.0, 0.0]]))] * 4
    dataset = GraspTorchDataset(samples, train=True, size=64, seed=1)

    def epoch(seed):
        torch.manual_seed(seed)
        loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=collate_grasps)
        return [images[0] for images, _ in loader]

    first = epoch(0)
    # Both workers start from the same dataset object, yet no two items are augmented alike ...
    assert all(not torch.equal(a, b) for i, a in enumerate(first) for b in first[i + 1:])
    # ... and a seeded run repeats exactly.
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(0)))


def test_photometric_augmentation_is_an_option_for_training_items_only(tmp_path):
    path = _write_png(tmp_path / "0_objA_RGB.png", 120, 160, rgb=(90, 140, 60))
    image = cv2.imread(str(path))
    image[40:80, 60:100] = (0, 200, 255)
    cv2.imwrite(str(path), image)
    samples = [GraspSample(path, "objA", np.array([[80.0, 60.0, 40.0, 10.0, 0.0]]))]

    plain = GraspTorchDataset(samples, train=True, size=64, seed=1)
    assert plain.photometric is None  # off by default
    jittered = GraspTorchDataset(samples, train=True, size=64, seed=1, photometric=True)
    assert jittered.photometric == PhotometricAugmentation()
    for seed in range(4):
        image_a, grasps_a = plain.item(0, np.random.default_rng(seed))
        image_b, grasps_b = jittered.item(0, np.random.default_rng(seed))
        assert torch.equal(grasps_a, grasps_b)  # the same geometric augmentation, grasps untouched
        assert not torch.equal(image_a, image_b)
        again, _ = jittered.item(0, np.random.default_rng(seed))
        assert torch.equal(again, image_b)  # deterministic given the generator
    assert torch.equal(plain.item(0, np.random.default_rng(0))[0],
                       GraspTorchDataset(samples, train=True, size=64, seed=1, photometric=False).item(
                           0, np.random.default_rng(0))[0])
    # Test items are never jittered.
    evaluation = GraspTorchDataset(samples, train=False, size=64, photometric=True)
    assert torch.equal(evaluation[0][0], GraspTorchDataset(samples, train=False, size=64)[0][0])
    custom = PhotometricAugmentation(brightness=(0.5, 0.5), contrast=(1, 1), saturation=(1, 1), hue_deg=(0, 0),
                                     gamma=(1, 1), blur_probability=0.0, noise_probability=0.0)
    dim, _ = GraspTorchDataset(samples, train=True, size=64, photometric=custom).item(0, np.random.default_rng(0))
    bright, _ = plain.item(0, np.random.default_rng(0))
    assert torch.allclose(dim, bright * 0.5, atol=1.0 / 255 + 1e-6)
    with pytest.raises(TypeError):
        GraspTorchDataset(samples, train=True, photometric="strong")

"""Synthetic scenes: grasps correct by construction, Jacquard files, determinism, CLI."""
import json

import cv2
import numpy as np
import pytest

from grasp_scorer_ros.datasets import kfold_splits, load_jacquard, load_rgb
from grasp_scorer_ros.grasp import angle_difference
from grasp_scorer_ros.synthetic import SceneConfig, generate_scene, main, make_object_pool, write_dataset
from grasp_scorer_ros.visualize import draw_grasps

CONFIG = SceneConfig()
SEED = 11


@pytest.fixture(scope="module")
def pool():
    return make_object_pool(SEED, 6, CONFIG)


@pytest.fixture(scope="module")
def scenes(pool):
    return [generate_scene(i, SEED, pool, CONFIG) for i in range(12)]


def _axes(grasp):
    t = np.deg2rad(grasp[4])
    return np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])


def _labels_at(labels, points):
    p = np.round(np.asarray(points)).astype(int)
    assert np.all((p >= 0) & (p < labels.shape[0])), "point outside the image"
    return labels[p[..., 1], p[..., 0]]


def test_grasps_are_correct_by_construction(scenes):
    """Fingers on the table, nothing but the grasped object between them, centre on the object."""
    gripper = CONFIG.gripper_model
    total, centre_on_object = 0, 0
    for scene in scenes:
        assert len(scene.grasps) > 0
        assert scene.labels.max() == len(scene.shapes)
        for grasp, owner in zip(scene.grasps, scene.grasp_object):
            total += 1
            x, y, w, h, _ = grasp
            u, n = _axes(grasp)
            assert gripper.min_opening <= w <= gripper.max_opening and h == pytest.approx(gripper.jaw_size)
            across = np.linspace(-h / 2 + 0.5, h / 2 - 0.5, 7)
            finger = np.linspace(w / 2 + 0.5, w / 2 + gripper.finger_thickness - 0.5, 4)
            jaws = [(x, y) + side * a * u + b * n for side in (-1, 1) for a in finger for b in across]
            assert np.all(_labels_at(scene.labels, jaws) == 0)
            between = [(x, y) + a * u + b * n for a in np.linspace(-w / 2 + 1, w / 2 - 1, 25) for b in across]
            inside = _labels_at(scene.labels, between)
            assert np.all((inside == 0) | (inside == owner + 1))
            assert np.any(inside == owner + 1)
            centre_on_object += _labels_at(scene.labels, (x, y)) == owner + 1
    # Spans across a ring or between the arms of an L may have their centre off the object.
    assert centre_on_object >= 0.8 * total


def test_drawn_grasps_on_a_rendered_scene(scenes, tmp_path):
    scene = max(scenes, key=lambda s: len(s.grasps))
    drawn = draw_grasps(scene.image, scene.grasps[:1], color=(0, 255, 0), jaw_color=(255, 0, 0), centre=False)
    path = tmp_path / "scene.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    image = load_rgb(path)
    x, y, w, h, _ = scene.grasps[0]
    u, n = _axes(scene.grasps[0])
    jaw_mid = np.round((x, y) + w / 2 * u).astype(int)
    axis_mid = np.round((x, y) + h / 2 * n).astype(int)
    assert image[jaw_mid[1], jaw_mid[0], 0] > 200 and image[jaw_mid[1], jaw_mid[0], 1] < 120
    assert image[axis_mid[1], axis_mid[0], 1] > 200 and image[axis_mid[1], axis_mid[0], 0] < 120
    # Where a finger goes, just beyond the jaw edge, the table shows, untouched by the drawing.
    outside = np.round((x, y) + (w / 2 + 4) * u).astype(int)
    assert scene.labels[outside[1], outside[0]] == 0
    np.testing.assert_array_equal(image[outside[1], outside[0]], scene.image[outside[1], outside[0]])


def test_scenes_vary_and_are_deterministic(pool, scenes):
    again = generate_scene(3, SEED, pool, CONFIG)
    np.testing.assert_array_equal(again.image, scenes[3].image)
    np.testing.assert_array_equal(again.grasps, scenes[3].grasps)
    assert not np.array_equal(scenes[3].image, scenes[4].image)
    other_seed = generate_scene(3, SEED + 1, make_object_pool(SEED + 1, 6, CONFIG), CONFIG)
    assert not np.array_equal(other_seed.image, scenes[3].image)
    counts = [len(s.shapes) for s in scenes]
    assert min(counts) >= 1 and max(counts) <= 4 and len(set(counts)) > 1
    kinds = {p.kind for s in pool for p in s.prototypes}
    assert len(kinds) >= 5
    # Tables differ: mean colours spread out.
    means = np.array([s.image[s.labels == 0].mean(axis=0) for s in scenes])
    assert np.ptp(means, axis=0).max() > 40


def test_written_in_jacquard_format_and_loaded_by_the_jacquard_loader(tmp_path):
    out = tmp_path / "synthetic"
    config = SceneConfig(size=160)
    paths = write_dataset(out, 10, seed=2, config=config, object_sets=5)
    samples = load_jacquard(out)
    assert len(samples) == len(paths) == 10
    pool = make_object_pool(2, 5, config)
    for sample in samples:
        index = int(sample.image_path.name.split("_")[0])
        scene = generate_scene(index, 2, pool, config)
        assert sample.object_id == scene.object_id
        np.testing.assert_allclose(sample.grasps[:, :4], scene.grasps[:, :4], atol=0.006)
        assert np.all(angle_difference(sample.grasps[:, 4], scene.grasps[:, 4]) < 0.006)
        np.testing.assert_array_equal(load_rgb(sample.image_path), scene.image)
        mask = cv2.imread(str(sample.image_path).replace("_RGB.png", "_mask.png"), cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(mask > 0, scene.labels > 0)
    # Object ids repeat across scenes, so object-wise splits are meaningful.
    objects = [s.object_id for s in samples]
    assert len(set(objects)) < len(objects)
    for train, test in kfold_splits(samples, folds=2, by="object"):
        assert not {objects[i] for i in train} & {objects[i] for i in test}
    manifest = json.loads((out / "synthetic.json").read_text())
    assert manifest["seed"] == 2 and manifest["count"] == 10 and manifest["format"] == "jacquard"


def test_worker_processes_write_the_same_files(tmp_path):
    config = SceneConfig(size=128)
    write_dataset(tmp_path / "one", 4, seed=5, config=config, object_sets=2)
    write_dataset(tmp_path / "two", 4, seed=5, config=config, object_sets=2, workers=2)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*_*"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*_*"))
    assert one == two and len(one) == 12
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_command_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--count", "3", "--seed", "4", "--size", "128", "--quiet"]) == 0
    assert len(list((tmp_path / "cli").rglob("*_RGB.png"))) == 3
    assert len(list((tmp_path / "cli").rglob("*_grasps.txt"))) == 3
    assert "wrote 3 scenes" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--count", "0"])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--size", "16"])

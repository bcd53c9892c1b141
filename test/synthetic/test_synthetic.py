"""Synthetic scenes: grasps correct by construction for every shape kind of every look, dense
ground truth, distractors, looks held apart, Jacquard files, determinism, CLI.

Covers the package through its API (synthetic/__init__.py): scene.py, grasp_planner.py, shapes.py,
look.py, render.py, depth.py, writer.py and cli.py."""
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
from shapely import affinity
from shapely.geometry import box

from grasp_scorer_ros.datasets import kfold_splits, load_jacquard, load_rgb
from grasp_scorer_ros.grasp import angle_difference, normalize_angle
from grasp_scorer_ros.synthetic import (LOOKS, GripperModel, Look, SceneConfig, generate_scene, main,
                                        make_object_pool, plan_grasps, write_dataset)
from grasp_scorer_ros.synthetic.render import render_scene
from grasp_scorer_ros.synthetic.shapes import ObjectSet, random_prototype
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


def _check_grasps(scene, gripper):
    """Every grasp of ``scene`` checked on its label image: opening within the gripper's range, jaw
    one of its sizes, both fingers on free table, nothing but the grasped object between them and
    some of it there. Returns how many grasps have their centre on their object."""
    g = scene.grasps
    assert len(g) == len(scene.grasp_object) and len(g) > 0
    assert scene.labels.max() == len(scene.shapes)
    x, y, w, h, t = g.T
    assert np.all((w >= gripper.min_opening - 1e-9) & (w <= gripper.max_opening + 1e-9))
    jaw_ok = np.isclose(h[:, None], np.array(gripper.all_jaw_sizes)[None, :]).any(axis=1)
    assert np.all(jaw_ok), np.unique(h)
    u = np.stack([np.cos(np.deg2rad(t)), np.sin(np.deg2rad(t))], axis=1)[:, None, :]
    n = np.stack([-np.sin(np.deg2rad(t)), np.cos(np.deg2rad(t))], axis=1)[:, None, :]
    c = np.stack([x, y], axis=1)[:, None, :]
    across = np.linspace(-0.5, 0.5, 7)[None, :] * h[:, None] + np.linspace(0.5, -0.5, 7)[None, :]  # (N, 7)
    finger = w[:, None] / 2 + np.linspace(0.5, gripper.finger_thickness - 0.5, 4)[None, :]        # (N, 4)
    a_f = np.repeat(finger, 7, axis=1)                    # (N, 28)
    b_f = np.tile(across, (1, 4))
    jaw_points = np.concatenate([c + side * a_f[..., None] * u + b_f[..., None] * n for side in (-1, 1)], axis=1)
    assert np.all(_labels_at(scene.labels, jaw_points) == 0), "a finger lands on an object"
    a_b = (np.linspace(-0.5, 0.5, 25)[None, :] * (w[:, None] - 2))
    a_b = np.repeat(a_b, 7, axis=1)
    b_b = np.tile(across, (1, 25))
    inside = _labels_at(scene.labels, c + a_b[..., None] * u + b_b[..., None] * n)
    owner = scene.grasp_object[:, None] + 1
    assert np.all((inside == 0) | (inside == owner)), "another object between the fingers"
    assert np.all((inside == owner).any(axis=1)), "nothing of the object between the fingers"
    # A centre off the object is either the middle of a span across a gap of the object (a ring's
    # hole, between the arms of a U or the horns of a crescent: the object is on both sides of it
    # between the fingers) or at an end of the object, the jaws partly on it (the centre within
    # half a jaw of it).
    centres = np.stack([x, y], axis=1)
    centre_on = _labels_at(scene.labels, centres) == owner[:, 0]
    halves = inside.reshape(len(g), 25, 7) == owner[:, :, None]           # (N, along, across)
    both_sides = halves[:, :12].any(axis=(1, 2)) & halves[:, 13:].any(axis=(1, 2))
    near = np.zeros(len(g), bool)
    for k in np.unique(scene.grasp_object):
        distance = cv2.distanceTransform((scene.labels != k + 1).astype(np.uint8), cv2.DIST_L2, 5)
        mine = scene.grasp_object == k
        near[mine] = _labels_at(distance, centres[mine]) <= h[mine] / 2 + 1
    assert np.all(centre_on | both_sides | near), "a grasp centred beside its object"
    return int(centre_on.sum())


def test_grasps_are_correct_by_construction(scenes):
    """Fingers on the table, nothing but the grasped object between them, centre on the object,
    at every jaw size of the gripper."""
    gripper = CONFIG.gripper_model
    total = sum(len(s.grasps) for s in scenes)
    centre_on_object = sum(_check_grasps(scene, gripper) for scene in scenes)
    # Spans across a ring or between the arms of an L or a U have their centre off the object.
    assert centre_on_object >= 0.6 * total
    jaws = np.unique(np.concatenate([s.grasps[:, 3] for s in scenes]))
    np.testing.assert_allclose(jaws, gripper.all_jaw_sizes)


@pytest.mark.parametrize("look_name", sorted(LOOKS))
def test_every_shape_kind_of_every_look_gets_correct_grasps(look_name):
    """Scenes of two or three objects of one kind, for each kind of the look: every grasp passes
    the checks, and every kind gets grasps."""
    look = LOOKS[look_name]
    config = SceneConfig(size=320, min_objects=2, max_objects=3, look=look)
    gripper = config.gripper_model
    rng = np.random.default_rng(3)
    for k, kind in enumerate(look.shape_kinds):
        pool = [ObjectSet(f"kind{k}", tuple(random_prototype(rng, config.size, f"kind{k}-{i}", kind=kind, look=look)
                                            for i in range(3)))]
        scenes = [generate_scene(i, 5, pool, config) for i in range(2)]
        for scene in scenes:
            assert {p.kind for p in scene.prototypes} == {kind}
            _check_grasps(scene, gripper)
            assert scene.appearance["table"] in look.table_textures


def test_held_out_families_are_graspable():
    """Prototypes of the held-out kinds alone on the table nearly always have grasps."""
    look, config = LOOKS["heldout"], SceneConfig(look="heldout")
    rng = np.random.default_rng(0)
    for kind in look.shape_kinds:
        found = 0
        for i in range(10):
            proto = random_prototype(rng, config.size, f"p{i}", kind=kind, look=look)
            shape = affinity.translate(proto.shape, 160, 160)
            found += len(plan_grasps(shape, shape, None, (320, 320), config.gripper_model, rng,
                                     angle_step_deg=7.5)) > 0
        assert found >= 8, kind


def test_dense_ground_truth_on_a_bar():
    """A plain bar alone: grasps along most of its length, over a range of orientations around the
    perpendicular (the friction cone allows +-20 deg), at each of the three jaw sizes; and all
    of the candidate grid's lines across it at the perpendicular."""
    gripper = GripperModel.for_image_size(320)
    length, width = 120.0, 16.0
    bar = box(160 - length / 2, 160 - width / 2, 160 + length / 2, 160 + width / 2)
    grasps = plan_grasps(bar, bar, None, (320, 320), gripper, np.random.default_rng(0), angle_step_deg=7.5)
    assert len(gripper.all_jaw_sizes) == 3
    for jaw in gripper.all_jaw_sizes:
        g = grasps[np.isclose(grasps[:, 3], jaw)]
        assert len(g) >= 30, jaw
        assert np.ptp(g[:, 0]) >= 0.75 * length  # positions along the bar
        assert np.all(np.abs(g[:, 1] - 160) < width)
        tilt = normalize_angle(g[:, 4] - 90.0)  # 0: across the bar
        assert np.ptp(tilt) >= 30 and np.all(np.abs(tilt) <= gripper.friction_deg + 1e-6)
        # Away from the ends, the fingers open to the bar's extent between them (its width along
        # the tilted axis, plus the jaw's reach across it) and the clearance on both sides.
        t = np.deg2rad(tilt)
        expected = width / np.cos(t) + jaw * np.abs(np.tan(t)) + 2 * gripper.clearance
        middle = np.abs(g[:, 0] - 160) < length / 2 - 2 * jaw
        np.testing.assert_allclose(g[middle, 2], expected[middle], atol=1e-6)
        # Near the perpendicular, centres every half of the smallest jaw at most, all along the bar.
        for angle in np.unique(g[np.abs(tilt) < 5, 4]):
            xs = np.sort(g[g[:, 4] == angle, 0])
            assert np.ptp(xs) >= 0.75 * length
            assert np.max(np.diff(xs)) <= 0.5 * min(gripper.all_jaw_sizes) / np.cos(np.deg2rad(20)) + 1e-6
    # In the middle of the bar, the narrowest jaw closes over the whole friction cone; wider jaws
    # over less of it, since the two pads then touch the bar further apart across it.
    small = grasps[np.isclose(grasps[:, 3], min(gripper.all_jaw_sizes)) & (np.abs(grasps[:, 0] - 160) < 30)]
    assert np.ptp(normalize_angle(small[:, 4] - 90.0)) >= 30


def test_distractors_change_the_image_but_no_label_and_no_grasp():
    base = replace(LOOKS["train"], jpeg_probability=0.0, defocus_probability=0.0, motion_blur_probability=0.0)
    with_d = SceneConfig(look=replace(base, distractors=(4, 4)))
    without = SceneConfig(look=replace(base, distractors=(0, 0)))
    pool = make_object_pool(SEED, 4, without)
    assert make_object_pool(SEED, 4, with_d)[0].prototypes[0].colors == pool[0].prototypes[0].colors
    for index in range(4):
        a, b = generate_scene(index, SEED, pool, with_d), generate_scene(index, SEED, pool, without)
        assert a.appearance["distractors"] == 4 and b.appearance["distractors"] == 0
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.grasps, b.grasps)
        np.testing.assert_array_equal(a.grasp_object, b.grasp_object)
        assert len(a.shapes) == len(b.shapes) == a.labels.max() == len(a.grasps_per_object())
        changed = np.any(a.image != b.image, axis=-1)
        assert changed.mean() > 0.002
        # Objects are drawn over the distractors: their insides are untouched.
        core = cv2.erode((a.labels > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        assert not np.any(changed & core)


def test_looks_share_no_family_and_heldout_scenes_use_only_theirs():
    train, heldout = LOOKS["train"], LOOKS["heldout"]
    for family in ("shape_kinds", "table_textures", "object_patterns"):
        assert not set(getattr(train, family)) & set(getattr(heldout, family)), family
        assert len(getattr(heldout, family)) >= 3
    assert {"fractal", "fabric", "wood", "paper", "concrete"} <= set(train.table_textures)
    assert set(train.materials) == set(heldout.materials) == {"matte", "glossy", "metallic"}
    config = SceneConfig(look="heldout")
    pool = make_object_pool(SEED, 5, config)
    assert all(s.set_id.startswith("heldout-set") for s in pool)
    assert not {s.set_id for s in pool} & {s.set_id for s in make_object_pool(SEED, 5, CONFIG)}
    scenes = [generate_scene(i, SEED, pool, config) for i in range(6)]
    for scene in scenes:
        assert scene.object_id.startswith("heldout-set")
        assert scene.appearance["table"] in heldout.table_textures
        assert all(p.kind in heldout.shape_kinds and p.texture in heldout.object_patterns for p in scene.prototypes)
    again = generate_scene(2, SEED, pool, config)
    np.testing.assert_array_equal(again.image, scenes[2].image)
    np.testing.assert_array_equal(again.grasps, scenes[2].grasps)


def test_looks_are_validated():
    with pytest.raises(ValueError, match="unknown shape_kinds"):
        Look(shape_kinds=("bar", "teapot"))
    with pytest.raises(ValueError, match="light_intensity"):
        Look(light_intensity=(1.2, 0.7))
    with pytest.raises(ValueError, match="probability"):
        Look(jpeg_probability=1.5)
    with pytest.raises(ValueError, match="unknown look"):
        SceneConfig(look="sunset")
    assert SceneConfig(look="heldout").look is LOOKS["heldout"]


def _studio_look(**changes):
    """One light, no texture, no noise: what a factor does shows alone."""
    studio = dict(table_textures=("plain",), table_contrast=(0.0, 0.0), light_gradient=(0.0, 0.0),
                  vignette=(0.0, 0.0), light_elevation_deg=(45.0, 45.0), light_warmth=(0.0, 0.0),
                  light_green=(0.0, 0.0), shadow_strength=(0.6, 0.6), shadow_length=(0.03, 0.03),
                  shadow_softness=(0.003, 0.003), distractors=(0, 0), noise_sigma=(0.0, 0.0), shot_noise=(0.0, 0.0),
                  defocus_probability=0.0, motion_blur_probability=0.0, jpeg_probability=0.0,
                  object_patterns=("plain",), outline_probability=0.0)
    return replace(LOOKS["train"], **{**studio, **changes})


@pytest.mark.parametrize("azimuth", [0.0, 90.0, 225.0])
def test_shadow_falls_away_from_the_light_and_the_highlight_faces_it(azimuth):
    look = _studio_look(light_azimuth_deg=(azimuth, azimuth), materials=("glossy",))
    rng = np.random.default_rng(1)
    proto = random_prototype(rng, 320, "disc", kind="disc", look=look)
    shape = affinity.translate(proto.shape, 160, 160)
    image, labels, _ = render_scene(np.random.default_rng(2), (320, 320), [shape], [proto],
                                    [(160.0, 160.0, 0.0, 1.0)], look)
    towards = np.array([np.cos(np.deg2rad(azimuth)), np.sin(np.deg2rad(azimuth))])
    radius = np.sqrt(shape.area / np.pi)
    grey = image.astype(float).mean(axis=-1)
    beside = lambda side: np.round(np.array([160.0, 160.0]) + side * (radius + 4) * towards).astype(int)  # noqa: E731
    lit, shaded = beside(1), beside(-1)
    assert labels[lit[1], lit[0]] == 0 and labels[shaded[1], shaded[0]] == 0
    assert grey[shaded[1], shaded[0]] < 0.8 * grey[lit[1], lit[0]]
    # The brightest object pixel lies on the side facing the light.
    inside = cv2.erode((labels == 1).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    y, x = np.unravel_index(np.argmax(np.where(inside, grey, -1)), grey.shape)
    assert np.dot([x - 160, y - 160], towards) > 0.2 * radius


def test_camera_noise_and_blur_factors_take_effect():
    rng = np.random.default_rng(0)
    proto = random_prototype(rng, 160, "disc", kind="disc")
    shape = affinity.translate(proto.shape, 80, 80)

    def draw(**changes):
        image, labels, _ = render_scene(np.random.default_rng(5), (160, 160), [shape], [proto], [(80.0, 80.0, 0, 1)],
                                        _studio_look(**changes))
        return image.astype(float), labels

    clean, labels = draw()
    table = np.zeros(labels.shape, bool)
    table[8:40, 8:40] = True  # a corner of plain table, far from the object and its shadow
    assert not np.any(labels[table])
    noisy, _ = draw(noise_sigma=(6.0, 6.0))
    shot, _ = draw(shot_noise=(0.5, 0.5))
    blurred, _ = draw(defocus_probability=1.0, defocus_radius=(0.02, 0.02))
    residual = lambda im: (im - cv2.GaussianBlur(im, (0, 0), 2))[table].std()  # noqa: E731
    assert residual(clean) < 1.0 and residual(noisy) > 4.0 and residual(shot) > 3.0
    edge = np.abs(np.diff(clean.mean(axis=-1), axis=1)).max()
    assert np.abs(np.diff(blurred.mean(axis=-1), axis=1)).max() < 0.6 * edge


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
    # The look is recorded with every one of its parameters, and the grasps per object and image.
    assert manifest["look"] == "train"
    assert manifest["config"]["look"] == json.loads(json.dumps(LOOKS["train"].ranges()))
    per_object = [n for s in samples for n in generate_scene(
        int(s.image_path.name.split("_")[0]), 2, pool, config).grasps_per_object()]
    assert manifest["objects"] == len(per_object)
    assert manifest["grasps_per_object"]["mean"] == pytest.approx(np.mean(per_object), abs=0.051)
    assert manifest["grasps_per_object"]["min"] == min(per_object)
    assert manifest["grasps_per_image"]["max"] == max(len(s.grasps) for s in samples)
    assert manifest["grasps"] == sum(len(s.grasps) for s in samples)


def test_worker_processes_write_the_same_files(tmp_path):
    config = SceneConfig(size=128)
    write_dataset(tmp_path / "one", 4, seed=5, config=config, object_sets=2)
    write_dataset(tmp_path / "two", 4, seed=5, config=config, object_sets=2, workers=2)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*_*"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*_*"))
    assert one == two and len(one) == 12
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_the_installed_command_runs_worker_processes(tmp_path):
    """The console script as users run it (colcon's install/bin), with a spawn pool of 2 workers: its
    workers import the script, which must not run the command again (it did, without end)."""
    import shutil
    import subprocess
    command = shutil.which("grasp-scorer-synth")
    if command is None:
        pytest.skip("grasp-scorer-synth is not installed (make setup builds it)")
    out = tmp_path / "workers"
    result = subprocess.run([command, "--out", str(out), "--count", "4", "--seed", "5", "--size", "128",
                             "--workers", "2", "--quiet"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "bootstrapping phase" not in result.stderr
    assert len(list(out.rglob("*_RGB.png"))) == 4


def test_command_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "cli"), "--count", "3", "--seed", "4", "--size", "128", "--quiet"]) == 0
    assert len(list((tmp_path / "cli").rglob("*_RGB.png"))) == 3
    assert len(list((tmp_path / "cli").rglob("*_grasps.txt"))) == 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert "wrote 3 scenes" in lines[0]
    manifest = json.loads((tmp_path / "cli" / "synthetic.json").read_text())
    assert lines[-1].startswith("grasps per object: mean ")
    assert f"mean {manifest['grasps_per_object']['mean']:.0f} " in lines[-1] and "per image: mean" in lines[-1]
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--count", "0"])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--size", "16"])
    with pytest.raises(SystemExit):
        main(["--count", "3"])  # neither --out nor --grid
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--look", "sunset"])


def test_command_line_held_out_look(tmp_path, capsys):
    out = tmp_path / "heldout"
    assert main(["--out", str(out), "--count", "4", "--seed", "1", "--size", "128", "--look", "heldout",
                 "--object-sets", "2", "--quiet"]) == 0
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders and all(name.startswith("heldout-set") for name in folders)
    samples = load_jacquard(out)
    assert len(samples) == 4 and all(s.object_id.startswith("heldout-set") for s in samples)
    manifest = json.loads((out / "synthetic.json").read_text())
    assert manifest["look"] == "heldout" and manifest["config"]["look"]["name"] == "heldout"
    assert manifest["config"]["look"]["shape_kinds"] == list(LOOKS["heldout"].shape_kinds)
    assert "look heldout" in capsys.readouterr().out


@pytest.mark.slow
def test_command_line_grid(tmp_path, capsys):
    path = tmp_path / "looks.png"
    assert main(["--grid", str(path), "--size", "96", "--seed", "2"]) == 0
    picture = load_rgb(path)
    assert picture.shape == (2 * (26 + 2 * 96), 6 * 96, 3)  # per look: a caption and 2 rows of 6
    assert path.stat().st_size < 1_000_000
    assert "grid" in capsys.readouterr().out
    assert not list(tmp_path.glob("*/synthetic.json"))  # no dataset written


def test_every_family_a_look_can_name_has_a_renderer():
    from grasp_scorer_ros.synthetic import look, render, shapes
    assert set(look.SHAPE_KINDS) == set(shapes.SHAPES)
    assert set(look.TABLE_TEXTURES) == set(render.TABLE_TEXTURES)
    rng = np.random.default_rng(0)
    u, v = np.meshgrid(np.arange(-20.0, 20.0), np.arange(-10.0, 10.0))
    for pattern in look.OBJECT_PATTERNS:
        proto = shapes.random_prototype(rng, 320, "p", kind="bar")
        proto = shapes.ObjectPrototype(**{**proto.__dict__, "texture": pattern})
        weight = render._object_pattern(proto, u, v, rng)
        assert weight.shape == u.shape and np.all((weight >= 0) & (weight <= 1)), pattern


def test_depth_is_written_beside_the_scenes_and_leaves_them_unchanged(tmp_path):
    import cv2
    from grasp_scorer_ros.synthetic import SceneConfig, write_dataset
    from grasp_scorer_ros.synthetic.depth import HEIGHT_RANGE_M
    config = SceneConfig(size=96)
    plain = write_dataset(tmp_path / "plain", 3, seed=5, config=config)
    deep = write_dataset(tmp_path / "deep", 3, seed=5, config=config, depth_camera_distance=0.8)
    for a, b in zip(plain, deep):
        assert a.read_bytes() == b.read_bytes()         # the same images, depth or not
        depth = cv2.imread(str(b).replace("_RGB.png", "_perfect_depth.tiff"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(b).replace("_RGB.png", "_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
        assert depth.dtype == np.float32 and depth.shape == (96, 96)
        assert np.allclose(depth[~mask], 0.8)            # the table
        tops = 0.8 - depth[mask]
        assert tops.size and HEIGHT_RANGE_M[0] <= tops.min() and tops.max() <= HEIGHT_RANGE_M[1]
    assert not list((tmp_path / "plain").rglob("*_perfect_depth.tiff"))

"""The demo's report (app/demo.py), without running the demo: scenes recognised by their content. The
demo itself, as `make demo` runs it, is tested in test/system/test_demo.py."""


def test_scenes_are_recognised_by_content_whatever_frame_the_demo_heard_first(tmp_path):
    """The demo may hear the camera late: frame order must not decide which scene a grasp is on."""
    from types import SimpleNamespace

    import cv2
    import numpy as np

    from grasp_scorer_ros.app.demo import image_digest, scene_report

    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"scene_{i:02d}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
        (tmp_path / f"scene_{i:02d}_grasps.txt").write_text(f"{10 + 10 * i};20;0;12;4\n")
    rgb = {i: cv2.cvtColor(cv2.imread(str(tmp_path / f"scene_{i:02d}.png")), cv2.COLOR_BGR2RGB) for i in range(3)}

    def candidates(x):
        grasp = SimpleNamespace(center_x=x, center_y=20.0, opening_width=12.0, jaw_size=4.0, angle=0.0)
        return SimpleNamespace(candidates=[SimpleNamespace(opening_width=0.05, score=0.9, image_grasp=grasp)])

    # Heard from scene 1 on (scene 0's frame was missed); each best grasp is on its own scene's object.
    frames = [(1, 0), (2, 0)]
    monitor = SimpleNamespace(first_frames=lambda count: frames[:count],
                              frame_digests={(1, 0): image_digest(rgb[1]), (2, 0): image_digest(rgb[2])},
                              candidates={(1, 0): candidates(20.0), (2, 0): candidates(30.0)})
    lines = scene_report(monitor, 2, tmp_path)
    assert lines[0].endswith("correct by the rectangle metric: 2/3"), lines
    assert "scene_00: not among the 2 frames" in lines[1]
    assert "scene_01" in lines[2] and "on an object" in lines[2]
    assert "scene_02" in lines[3] and "on an object" in lines[3]

"""Image-wise and object-wise k-fold splits."""
from pathlib import Path

import numpy as np
import pytest

from grasp_scorer_ros.datasets import GraspSample, fold_assignment, kfold_splits


def _samples(images_per_object):
    samples = []
    for obj, n in enumerate(images_per_object):
        samples += [GraspSample(Path(f"{obj}_{i}.png"), f"obj{obj}", np.zeros((1, 5))) for i in range(n)]
    return samples


SAMPLES = _samples([1, 2, 3, 4, 5, 1, 1, 7, 2, 3, 3, 6, 2, 2, 1, 9, 4, 3])


@pytest.mark.parametrize("by", ["image", "object"])
def test_every_sample_is_tested_exactly_once(by):
    splits = kfold_splits(SAMPLES, folds=5, by=by, seed=0)
    assert len(splits) == 5
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(len(SAMPLES)))
    for train, test in splits:
        assert len(test) > 0
        assert not set(train.tolist()) & set(test.tolist())
        assert len(train) + len(test) == len(SAMPLES)


def test_object_wise_never_puts_one_object_on_both_sides():
    for seed in range(5):
        for train, test in kfold_splits(SAMPLES, folds=5, by="object", seed=seed):
            train_objects = {SAMPLES[i].object_id for i in train}
            test_objects = {SAMPLES[i].object_id for i in test}
            assert not train_objects & test_objects


def test_image_wise_does_split_objects():
    # The contrast that makes the object-wise test meaningful: image-wise splits mix objects.
    mixed = any({SAMPLES[i].object_id for i in train} & {SAMPLES[i].object_id for i in test}
                for train, test in kfold_splits(SAMPLES, folds=5, by="image", seed=0))
    assert mixed


def test_folds_are_balanced():
    sizes = np.bincount(fold_assignment(SAMPLES, 5, "image", seed=1))
    assert sizes.max() - sizes.min() <= 1
    # Object-wise folds cannot be more even than whole objects allow: within the largest object.
    sizes = np.bincount(fold_assignment(SAMPLES, 5, "object", seed=1))
    largest = max(np.unique([s.object_id for s in SAMPLES], return_counts=True)[1])
    assert sizes.max() - sizes.min() <= largest


@pytest.mark.parametrize("by", ["image", "object"])
def test_reproducible_by_seed(by):
    a = fold_assignment(SAMPLES, 5, by, seed=7)
    assert np.array_equal(a, fold_assignment(SAMPLES, 5, by, seed=7))
    assert any(not np.array_equal(a, fold_assignment(SAMPLES, 5, by, seed=s)) for s in range(8, 12))


def test_bad_arguments():
    with pytest.raises(ValueError, match="distinct objects"):
        kfold_splits(_samples([3, 3, 3]), folds=5, by="object")
    with pytest.raises(ValueError, match="folds"):
        kfold_splits(SAMPLES, folds=1)
    with pytest.raises(ValueError, match="'image' or 'object'"):
        kfold_splits(SAMPLES, by="scene")


def test_sample_covering_objects_shows_every_object():
    from grasp_scorer_ros.datasets.splits import sample_covering_objects
    samples = [GraspSample(Path(f"{i}.png"), f"object{i % 7}", np.zeros((1, 5))) for i in range(70)]
    chosen = sample_covering_objects(samples, 20, seed=3)
    assert len(chosen) == 20 == len(set(chosen.tolist()))
    assert {samples[i].object_id for i in chosen} == {f"object{i}" for i in range(7)}
    assert np.array_equal(chosen, sample_covering_objects(samples, 20, seed=3))
    assert not np.array_equal(chosen, sample_covering_objects(samples, 20, seed=4))
    assert np.array_equal(sample_covering_objects(samples, 100), np.arange(70))

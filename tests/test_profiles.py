"""Device profiles: every shipped profile validates; bad ones name the field."""

from __future__ import annotations

import pytest

from edge.errors import ConfigError
from edge.profiles import PROFILES_DIR, detect_profile_name, list_profiles, load_profile


def test_every_shipped_profile_validates():
    names = list_profiles()
    assert {"x86-cpu", "intel-nuc", "jetson-orin"} <= set(names)
    for name in names:
        assert load_profile(name).name == name


def test_profiles_pick_the_engine_per_device_class():
    assert load_profile("x86-cpu").asr.engine.compute_type == "int8"
    assert load_profile("intel-nuc").vad.backend == "openvino"
    jetson = load_profile("jetson-orin")
    assert jetson.asr.engine.device == "cuda"
    assert jetson.vad.execution_providers[0] == "TensorrtExecutionProvider"


def test_this_machine_is_detected_as_a_plain_cpu_box():
    assert detect_profile_name() == "x86-cpu"


def test_a_bad_field_is_named_in_the_error(tmp_path):
    text = (PROFILES_DIR / "x86-cpu.yaml").read_text().replace("beam_size: 5", "beam_size: 50", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"field 'asr\.offline\.beam_size'"):
        load_profile(str(bad))


def test_an_unknown_key_is_refused(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text((PROFILES_DIR / "x86-cpu.yaml").read_text() + "treads: 4\n")
    with pytest.raises(ConfigError, match="field 'treads'"):
        load_profile(str(bad))


def test_a_vad_on_a_sequence_engine_is_refused(tmp_path):
    bad = tmp_path / "vad.yaml"
    bad.write_text((PROFILES_DIR / "x86-cpu.yaml").read_text().replace("backend: onnxruntime", "backend: ctranslate2"))
    with pytest.raises(ConfigError, match="vad.backend"):
        load_profile(str(bad))


def test_an_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="x86-cpu"):
        load_profile("raspberry-pi")


def test_every_shipped_vad_states_f32():
    # Speech decisions must not depend on which CPU or engine a box has.
    for name in list_profiles():
        vad = load_profile(name).vad
        assert vad.precision == "f32", name
        assert vad.runtime().precision == "f32"


def test_an_unstated_precision_means_f32(tmp_path):
    text = (PROFILES_DIR / "intel-nuc.yaml").read_text().replace("  precision: f32\n", "")
    path = tmp_path / "no-precision.yaml"
    path.write_text(text)

    profile = load_profile(str(path))

    assert profile.vad.precision is None and profile.vad.runtime().precision == "f32"


def test_a_precision_onnxruntime_cannot_honour_is_refused(tmp_path):
    bad = tmp_path / "ort-bf16.yaml"
    text = (PROFILES_DIR / "x86-cpu.yaml").read_text()
    vad = text.index("\nvad:")
    bad.write_text(text[:vad] + text[vad:].replace("precision: f32", "precision: bf16", 1))
    with pytest.raises(ConfigError, match=r"vad\.precision: ONNX Runtime"):
        load_profile(str(bad))


def test_a_precision_on_ctranslate2_points_to_compute_type(tmp_path):
    bad = tmp_path / "ct2.yaml"
    bad.write_text((PROFILES_DIR / "x86-cpu.yaml").read_text().replace("    threads: 2\n", "    threads: 2\n    precision: f32\n", 1))
    with pytest.raises(ConfigError, match=r"asr\.engine\.precision: .*compute_type"):
        load_profile(str(bad))


def test_an_unknown_precision_is_refused(tmp_path):
    bad = tmp_path / "int4.yaml"
    bad.write_text((PROFILES_DIR / "intel-nuc.yaml").read_text().replace("precision: f32", "precision: int4"))
    with pytest.raises(ConfigError, match=r"field 'vad\.precision'"):
        load_profile(str(bad))


# -- device classes, families, power hints (issue 13) ----------------------------------------


def test_the_four_device_classes_have_profiles_with_their_engines():
    assert load_profile("x86-cpu").asr.engine.device == "cpu"
    assert load_profile("intel-nuc").vad.backend == "openvino"
    for name in ("jetson-orin-nano", "jetson-agx-orin"):
        p = load_profile(name)
        assert p.asr.engine.device == "cuda" and p.asr.engine.compute_type == "int8_float16"
        assert p.vad.execution_providers[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
        assert p.power.nvpmodel is not None and p.power.jetson_clocks


def test_a_family_member_inherits_what_it_does_not_say(tmp_path):
    base, nano, agx = (load_profile(n) for n in ("jetson-orin", "jetson-orin-nano", "jetson-agx-orin"))
    assert nano.extends == agx.extends == "jetson-orin"
    assert nano.vision == base.vision and nano.llm == base.llm and nano.vad == base.vad  # shared, said once
    assert nano.asr.engine.model == base.asr.engine.model  # merged key by key, not replaced as a block
    assert (nano.ingest.video_width, agx.ingest.video_width) == (1280, 1920)
    assert nano.power.max_watts < agx.power.max_watts


@pytest.mark.parametrize(("extends", "says"), [("raspberry-pi", "no profile 'raspberry-pi'"),
                                                ("loop", "would extend itself")])
def test_a_bad_base_is_named(tmp_path, extends, says):
    (tmp_path / "loop.yaml").write_text((PROFILES_DIR / "x86-cpu.yaml").read_text().replace(
        "name: x86-cpu", "name: loop") + f"extends: {extends}\n")
    with pytest.raises(ConfigError, match=f"field 'extends': .*{says}"):
        load_profile("loop", directory=tmp_path)


def test_a_power_hint_out_of_range_is_named(tmp_path):
    bad = tmp_path / "watts.yaml"
    bad.write_text((PROFILES_DIR / "x86-cpu.yaml").read_text() + "power: {nvpmodel: 99}\n")
    with pytest.raises(ConfigError, match=r"field 'power\.nvpmodel'"):
        load_profile(str(bad))


@pytest.mark.parametrize(("model", "profile"), [
    ("NVIDIA Jetson Orin Nano Developer Kit\0", "jetson-orin-nano"),
    ("NVIDIA Jetson AGX Orin Developer Kit\0", "jetson-agx-orin"),
    ("NVIDIA Jetson something newer\0", "jetson-orin"),
])
def test_a_jetson_is_told_apart_by_its_device_tree_model(tmp_path, model, profile):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text("# R36 (release)\n")
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text(model)
    assert detect_profile_name(tmp_path) == profile
    assert load_profile(profile).name == profile

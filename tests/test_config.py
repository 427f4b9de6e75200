"""Config loading: defaults documented in configs/default.yaml, errors that name the field."""
from pathlib import Path

import pytest

from fcw.config import DEFAULT_CONFIG, Config, ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_default_yaml_lists_exactly_the_defaults():
    # The documented file and the code's defaults must not drift apart.
    assert load_config(DEFAULT_CONFIG) == Config()


def test_jetson_profile_is_valid():
    cfg = load_config(REPO / "configs" / "jetson.yaml")
    assert cfg.output.status_line is False


@pytest.mark.parametrize("text, expect", [
    ("detector:\n  score_treshold: 0.3\n", "default.yaml:2: detector.score_treshold: unknown key"),
    ("warning:\n  caution_ttc_s: fast\n", "warning.caution_ttc_s"),
    ("tracker:\n  min_hits: 0\n",
     "tracker.min_hits: Input should be greater than or equal to 1 (got 0)"),
    ("detector:\n  nms:\n    method: magic\n", "detector.nms.method"),
    ("warning:\n  caution_ttc_s: 2.0\n  warning_ttc_s: 3.0\n",
     "warning_ttc_s must not exceed caution_ttc_s"),
    ("detector: [1, 2\n", "invalid YAML"),
    ("- 1\n- 2\n", "top level must be a mapping"),
])
def test_bad_config_gives_one_line_with_the_field_path(tmp_path, text, expect):
    path = tmp_path / "default.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(str(path))
    assert expect in msg


def test_partial_file_keeps_other_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("warning:\n  warning_ttc_s: 2.5\n")
    cfg = load_config(path)
    assert cfg.warning.warning_ttc_s == 2.5
    assert cfg.warning.caution_ttc_s == Config().warning.caution_ttc_s


def test_overrides_apply_by_dotted_path():
    cfg = load_config(None, {"source.realtime": True, "source.folder_fps": 5.0})
    assert cfg.source.realtime is True and cfg.source.folder_fps == 5.0


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")

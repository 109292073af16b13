"""The project's YAML reader builds what PyYAML's safe loader builds, and refuses what it refuses."""

from pathlib import Path

import pytest
import yaml

from sellout.config.yaml_files import read_yaml

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yml")), ids=lambda p: str(p.relative_to(CONF)))
def test_every_config_file_reads_as_the_safe_loader_reads_it(path):
    assert read_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


def test_a_tag_the_safe_loader_refuses_is_refused(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("x: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError):
        read_yaml(path)

"""Project files are data: projects/<name>.yaml, read with a loader that runs nothing, bounded in
size, nesting and alias expansion, validated by the typed definitions, each problem one line
naming the file, the line, the key, the value and the fix."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_isolation import ALIAS_BOMB, HOSTILE_PROJECT, PYTHON_PROJECT, PYTHON_TAG

from program import definitions, project_files
from program.definitions import DefinitionError

ROOT = Path(__file__).resolve().parent.parent
NOTES = HOSTILE_PROJECT.format(name="notes")


def problems_of(directory: Path, **files: str) -> list[str]:
    for name, text in files.items():
        (directory / name).write_text(text)
    with pytest.raises(DefinitionError) as raised:
        definitions.discover(directory)
    return raised.value.problems


class TestShippedProjects:
    def test_blog_and_ml_are_data_files_and_projects_holds_nothing_that_runs(self):
        assert sorted(p.name for p in (ROOT / "projects").iterdir()) == ["blog.yaml", "ml.yaml", definitions.SCHEMA]
        assert sorted(definitions.discover()) == ["blog", "ml"]

    def test_the_json_schema_is_the_one_generated_from_the_definitions(self):
        written = json.loads((ROOT / "projects" / definitions.SCHEMA).read_text())
        assert written == definitions.schema(), "run `make docs`"
        app = written["$defs"]["App"]
        assert app["properties"]["replicas"]["maximum"] == definitions.MAX_REPLICAS
        assert "Default replica count" in app["properties"]["replicas"]["description"]

    def test_an_editor_checking_against_the_schema_accepts_the_shipped_files_and_flags_a_bad_one(self):
        # jsonschema: what editors' YAML support runs (installed with kubernetes-validate).
        import jsonschema
        import yaml

        validator = jsonschema.Draft202012Validator(json.loads((ROOT / "projects" / definitions.SCHEMA).read_text()))
        for path in (ROOT / "projects").glob("*.yaml"):
            assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
        bad = yaml.safe_load(NOTES.replace("port: 8080", "port: 0, replica: 2"))
        assert sorted(e.message for e in validator.iter_errors(bad)) == [
            "0 is less than the minimum of 1", "Additional properties are not allowed ('replica' was unexpected)",
        ]

    def test_each_file_names_the_schema_for_editors(self):
        for path in (ROOT / "projects").glob("*.yaml"):
            assert path.read_text().startswith(f"# yaml-language-server: $schema={definitions.SCHEMA}\n"), path


class TestProblemsAreOneLineEach:
    def test_a_bad_value_names_file_line_key_value_and_fix(self, tmp_path):
        text = NOTES.replace("port: 8080", "port: 0").replace("apps:\n  - {", "apps:\n  - {")
        [problem] = problems_of(tmp_path, **{"notes.yaml": text})
        assert problem == f"{tmp_path.name}/notes.yaml:3: apps.0.port = 0: Input should be greater than or equal to 1"

    def test_a_number_where_text_belongs_says_to_quote_it(self, tmp_path):
        text = "name: notes\napps:\n  - name: web\n    image: ghcr.io/acme/web\n    tag: 1234567\n    port: 80\n    repository: https://github.com/acme/web\n"
        [problem] = problems_of(tmp_path, **{"notes.yaml": text})
        assert problem == f'{tmp_path.name}/notes.yaml:5: apps.0.tag = 1234567: YAML read this as a int; write it in quotes ("1234567")'

    @pytest.mark.parametrize(("field", "value"), [("replicas", "true"), ("spot", "1"), ("port", '"8080"')])
    def test_integers_and_booleans_are_not_coerced(self, tmp_path, field, value):
        text = NOTES.replace("port: 8080", f"port: 8080, {field}: {value}" if field != "port" else f"port: {value}")
        [problem] = problems_of(tmp_path, **{"notes.yaml": text})
        assert f"apps.0.{field} = " in problem and "Input should be a valid" in problem

    def test_zero_requests_are_refused(self, tmp_path):
        text = NOTES.replace("port: 8080", 'port: 8080, resources: {cpu: "0", memory: 0Mi}')
        problems = problems_of(tmp_path, **{"notes.yaml": text})
        assert [p.split(": ", 1)[1] for p in problems] == [
            "apps.0.resources.cpu = '0': '0' is zero; give what the container needs at least, e.g. 50m CPU or 64Mi memory",
            "apps.0.resources.memory = '0Mi': '0Mi' is zero; give what the container needs at least, e.g. 50m CPU or 64Mi memory",
        ]

    def test_an_unknown_field_and_a_misnamed_file(self, tmp_path):
        problems = problems_of(tmp_path, **{"notes.yaml": NOTES + "replica: 2\n", "shop.yaml": NOTES})
        assert problems == [
            f"{tmp_path.name}/notes.yaml:4: replica is not a field of a project definition; {definitions.SCHEMA} and README \"Add a project\" list the fields",
            f"{tmp_path.name}/shop.yaml:1: name = 'notes': a project's file is named for it; rename the file notes.yaml or set name: shop",
        ]

    def test_an_empty_bootstrap_command_is_refused(self, tmp_path):
        text = NOTES.replace("port: 8080", "port: 8080, bootstrap: {command: []}")
        [problem] = problems_of(tmp_path, **{"notes.yaml": text})
        assert "apps.0.bootstrap.command = []: the command is empty" in problem


class TestNothingInAProjectFileRuns:
    def test_a_python_file_is_refused_unread(self, tmp_path):
        problems = problems_of(tmp_path, **{"notes.py": PYTHON_PROJECT.replace("parent.parent", "parent")})
        assert problems == [
            f"{tmp_path.name}/notes.py: a project is a data file, and a Python file in projects/ is never run; write it as "
            f"projects/notes.yaml (README \"Add a project\"; `{definitions.SCHEMA}` gives editors its fields) and delete notes.py"
        ]
        assert not (tmp_path / "pwned").exists()

    def test_a_python_tag_runs_nothing(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        [problem] = problems_of(tmp_path, **{"notes.yaml": PYTHON_TAG})
        assert problem == f"{tmp_path.name}/notes.yaml:1: the tag tag:yaml.org,2002:python/object/apply:os.system is not allowed in a project file; write plain values (quote a string)"
        assert not (tmp_path / "pwned").exists()

    @pytest.mark.parametrize("tag", ["!!str 8080", "!custom x", "!!binary aGk="])
    def test_every_explicit_tag_is_refused(self, tmp_path, tag):
        [problem] = problems_of(tmp_path, **{"notes.yaml": NOTES + f"quota_cpu: {tag}\n"})
        assert problem.startswith(f"{tmp_path.name}/notes.yaml:4: the tag ")


class TestBoundedInput:
    def test_an_alias_bomb_is_refused_within_a_second(self, tmp_path):
        started = time.monotonic()
        [problem] = problems_of(tmp_path, **{"bomb.yaml": ALIAS_BOMB})
        assert time.monotonic() - started < 1
        assert f"the document expands to more than {project_files.MAX_VALUES:,} values (aliases included)" in problem

    def test_aliases_that_stay_small_are_fine(self):
        assert "&one_l4_node" in (ROOT / "projects" / "ml.yaml").read_text()
        ml = definitions.discover()["ml"]
        assert ml.batches[0].resources == ml.apps[0].resources

    def test_a_recursive_alias_is_refused(self, tmp_path):
        [problem] = problems_of(tmp_path, **{"notes.yaml": NOTES + "env: &loop {A: *loop}\n"})
        assert "an alias refers to the value that contains it" in problem

    def test_merge_keys_are_refused(self, tmp_path):
        [problem] = problems_of(tmp_path, **{"notes.yaml": NOTES + "x: &r {cpu: 1m}\nresources: {<<: *r}\n"})
        assert "merge keys (<<) are not allowed" in problem

    def test_size_and_depth_are_capped(self, tmp_path):
        big = NOTES + "#" + "x" * project_files.MAX_BYTES + "\n"
        deep = NOTES + "env: " + "[" * 100 + "]" * 100 + "\n"
        problems = problems_of(tmp_path, **{"big.yaml": big, "deep.yaml": deep})
        assert problems[0].startswith(f"{tmp_path.name}/big.yaml:1: the file is {len(big):,} bytes; a project file may have {project_files.MAX_BYTES:,}")
        assert problems[1].startswith(f"{tmp_path.name}/deep.yaml:4: values are nested more than {project_files.MAX_DEPTH} deep")

    def test_a_key_given_twice_and_a_file_that_is_not_utf8(self, tmp_path):
        (tmp_path / "latin.yaml").write_bytes(b"name: caf\xe9\napps: []\n")
        problems = problems_of(tmp_path, **{"notes.yaml": NOTES + "name: shop\n"})
        assert problems == [
            f"{tmp_path.name}/latin.yaml:1: byte 9 is not UTF-8; save the file as UTF-8",
            f"{tmp_path.name}/notes.yaml:4: 'name' is given twice (first on line 1); keep one",
        ]


def test_a_symbolic_link_in_projects_is_refused_unread(tmp_path):
    from program.definitions import DefinitionError, discover
    outside = tmp_path / "outside.yaml"
    outside.write_text("name: notes\napps: []\n")
    projects = tmp_path / "projects"
    projects.mkdir()
    (projects / "notes.yaml").symlink_to(outside)
    with pytest.raises(DefinitionError, match="projects/notes.yaml: a symbolic link; a project file is a regular file"):
        discover(projects)


@pytest.mark.parametrize("written, read_as", [("1:20:00", "1:20:00"), ("0123456", "0123456"), ("1_000", "1_000"), ("8080", 8080), ("-3", -3), ("2.5", 2.5)])
def test_numbers_are_read_as_yaml_1_2_plain_decimals_and_anything_else_stays_text(tmp_path, written, read_as):
    # PyYAML's YAML 1.1 would read 1:20:00 as 4800 (base 60) and 0123456 as octal 42798.
    from program import project_files
    path = tmp_path / "x.yaml"
    path.write_text(f"value: {written}\n")
    assert project_files.read(path).data == {"value": read_as}

"""The YAML loader: plain data, positions of every value, and located problems, never raises."""

from __future__ import annotations

from pathlib import Path

from fnl_deploy.yamlsrc import format_loc, load_file, parse_text, walk

TEXT = """\
# comment
schema: 1
commune:
  name: Échevis
  insee: 01001
people:
  - id: maire
    aliases: [maire, m]
"""


def parse(text: str):
    return parse_text(text, Path("t.yml"), "t.yml")


def test_positions_of_keys_and_items() -> None:
    source, problems = parse(TEXT)
    assert problems == [] and source is not None
    assert source.positions[("schema",)] == (2, 1)
    assert source.positions[("commune", "name")] == (4, 3)
    assert source.positions[("people", 0)] == (7, 5)
    assert source.positions[("people", 0, "aliases", 1)] == (8, 22)
    assert source.positions[()] == (2, 1)  # the document starts after the comment


def test_where_falls_back_to_the_deepest_known_parent() -> None:
    source, _ = parse(TEXT)
    assert source.where(("people", 0, "mailbox")) == (7, 5)
    assert source.where(("nothing", "here")) == (2, 1)
    problem = source.problem(("commune", "siren"), "missing")
    assert str(problem) == "t.yml:3:1: commune.siren: missing"


def test_yaml_1_2_core_scalars() -> None:
    source, _ = parse("a: no\nb: on\nc: 01001\nd: '5'\ne: true\nf: ~\ng: 1.5\nh: 0x10\n")
    assert source.data == {
        "a": "no",  # no Norway problem
        "b": "on",
        "c": 1001,  # a number: the INSEE rule explains the lost zero
        "d": "5",
        "e": True,
        "f": None,
        "g": 1.5,
        "h": "0x10",
    }


def test_bom_and_crlf_are_accepted_and_positions_stay_right() -> None:
    source, problems = parse("\ufeffschema: 1\r\ncommune:\r\n  name: A\r\n")
    assert problems == []
    assert source.data == {"schema": 1, "commune": {"name": "A"}}
    assert source.positions[("commune", "name")] == (3, 3)


def test_duplicate_key_is_located_with_its_full_path() -> None:
    source, problems = parse("commune:\n  name: A\n  insee: '1'\n  name: B\n")
    assert source is None
    assert [str(p) for p in problems] == [
        "t.yml:4:3: commune.name: key 'name' appears twice in the same mapping "
        "(first on line 2); keep only one"
    ]


def test_duplicate_key_in_a_list_item() -> None:
    _, problems = parse("people:\n  - id: a\n    id: b\n")
    assert problems[0].field == "people[0].id"
    assert (problems[0].line, problems[0].column) == (3, 5)


def test_tab_indentation() -> None:
    _, problems = parse("commune:\n\tname: A\n")
    assert [str(p) for p in problems] == [
        "t.yml:2:1: a tab character is used for indentation; YAML only allows spaces"
    ]


def test_tab_inside_a_value_is_data_not_indentation() -> None:
    source, problems = parse("name:\tA\n")
    assert problems == [] and source.data == {"name": "A"}


def test_nul_byte() -> None:
    _, problems = parse("a: 1\nb: x\x00y\n")
    assert [str(p) for p in problems] == ["t.yml:2: the file contains a NUL byte"]


def test_syntax_error_says_where_the_construct_started() -> None:
    _, problems = parse("a: [1, 2\nb: 3\n")
    assert len(problems) == 1
    assert problems[0].line == 2
    assert "(while parsing a flow sequence that starts on line 1)" in problems[0].message


def test_bad_indentation_gets_a_hint() -> None:
    _, problems = parse("a:\n  b: 1\n    c: 2\n")
    assert "check the indentation" in problems[0].message


def test_tags_are_ignored_never_constructed() -> None:
    source, problems = parse("a: !!python/object/apply:os.system ['id']\nb: !custom x\n")
    assert problems == []
    assert source.data == {"a": ["id"], "b": "x"}  # data only: nothing was run


def test_empty_document() -> None:
    source, problems = parse("# nothing\n")
    assert problems == [] and source.data is None


def test_load_file_refuses_latin1(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_bytes("a: 1\nb: Échevis\n".encode("latin-1"))
    source, problems = load_file(path, "t.yml")
    assert source is None
    assert str(problems[0]) == "t.yml:2: the file is not valid UTF-8; save it as UTF-8"


def test_load_file_unreadable(tmp_path: Path) -> None:
    _, problems = load_file(tmp_path / "missing.yml", "missing.yml")
    assert problems[0].message.startswith("cannot read the file: ")


def test_format_loc_and_walk() -> None:
    assert format_loc(("people", 0, "aliases", 2)) == "people[0].aliases[2]"
    assert format_loc(()) == ""
    assert list(walk({"a": [1, {"b": 2}]})) == [(("a", 0), 1), (("a", 1, "b"), 2)]

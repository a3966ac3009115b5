"""Bad files: one line naming the file, the line and what is wrong; exit code 2 from the command line."""

import subprocess
import sys
from pathlib import Path

import pytest

from burststudio.cli import main
from burststudio.errors import InputFileError, UserError
from burststudio.workload.formats import load

DATA = Path(__file__).resolve().parent.parent / "data"

# file, line named (None: no line), words the message must hold
BAD_FILES = [
    ("burstgpt_truncated_row.csv", 4, "4 fields where the header has 6"),
    ("burstgpt_negative.csv", 5, "negative value in column 'Request tokens': -1360"),
    ("burstgpt_non_numeric.csv", 5, "not a number in column 'Response tokens': 'lots'"),
    ("empty.csv", None, "empty file"),
    ("burstgpt_header_only.csv", 2, "no data rows"),
    ("unknown_format.txt", 1, "unknown format"),
    ("burstgpt_missing_column.csv", 1, "missing column 'Response tokens'"),
    ("mooncake_non_numeric.jsonl", 3, "'input_length' is not an integer: 'many'"),
]


@pytest.mark.parametrize("name,line,words", BAD_FILES)
def test_loader_names_file_line_and_problem(name, line, words):
    path = DATA / name
    with pytest.raises(InputFileError) as info:
        load(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    assert words in str(err)
    assert str(err).startswith(f"{path}:{line}: " if line else f"{path}: ")


@pytest.mark.parametrize("name,line,words", BAD_FILES)
def test_cli_exit_2_and_one_stderr_line(name, line, words, capsys):
    code = main(["inspect", str(DATA / name), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and words in err
    assert err.startswith("burststudio inspect: error: ")


def test_bad_value_far_into_a_gzip_file_is_located(tmp_path):
    import gzip

    lines = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    lines += [f"{i},ChatGPT,{i % 500},{i % 300 + 1},0,API log" for i in range(50_000)]
    lines[40_001] = "40000,ChatGPT,12,x7,0,API log"
    lines.insert(20_000, "")  # a blank line shifts everything after it by one line
    f = tmp_path / "big.csv.gz"
    f.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(InputFileError) as info:
        load(f)
    assert info.value.line == 40_003
    assert "'x7'" in str(info.value)


def test_negative_after_a_blank_line_names_the_right_line(tmp_path):
    f = tmp_path / "blank.csv"
    f.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                 "1,ChatGPT,1,1,2,API log\n\n2,ChatGPT,1,-1,0,API log\n")
    with pytest.raises(InputFileError) as info:
        load(f)
    assert info.value.line == 4


def test_unknown_format_name():
    with pytest.raises(UserError, match="unknown format 'bogus'"):
        load(DATA / "burstgpt_3_sample.csv", format="bogus")


def test_missing_file_and_unknown_csv_via_subprocess(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n")
    for target in (tmp_path / "absent.csv", odd):
        proc = subprocess.run([sys.executable, "-m", "burststudio", "inspect", str(target)],
                              capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1 and str(target) in proc.stderr
        assert "Traceback" not in proc.stderr


def test_unsorted_warning_is_one_line(capsys):
    assert main(["inspect", str(DATA / "burstgpt_unsorted.csv"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "warning" in err and "sorted" in err
    assert out.count("\n") == 1

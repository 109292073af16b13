"""``sellout sources suggest`` and ``sellout sources check`` as a person runs them."""

from __future__ import annotations

from click.testing import CliRunner

from sellout.command_line import main


def _files(folder):
    folder.mkdir()
    for day in ("2026-09-05", "2026-09-12"):
        rows = "".join(f"{day};F{i % 2};A{i};{i + 1};{i + 1},50\n" for i in range(8))
        (folder / f"abverkauf_{day}.csv").write_text("Wochenende;Filiale;Artikel;Menge;Umsatz\n" + rows)


def test_suggest_prints_an_entry_that_check_accepts(tmp_path):
    _files(tmp_path / "landing")
    runner = CliRunner()
    suggested = runner.invoke(
        main, ["sources", "suggest", str(tmp_path / "landing" / "abverkauf_2026-09-05.csv")]
    )
    assert suggested.exit_code == 0, suggested.output
    assert "week_ending_weekday: saturday" in suggested.output and "# suggested in " in suggested.output
    entry = tmp_path / "entry.yml"
    entry.write_text(suggested.stdout)
    checked = runner.invoke(main, ["sources", "check", "abverkauf", "--config", str(entry), "--files", "0"])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith("abverkauf: 2 file(s), 16 rows checked in ")


def test_check_exits_1_with_the_fix(tmp_path):
    _files(tmp_path / "landing")
    entry = tmp_path / "entry.yml"
    entry.write_text(
        f"""sources:
  de:
    directory: {tmp_path / "landing"}
    sellout:
      pattern: "abverkauf_*.csv"
      csv: {{delimiter: ";", decimal: ","}}
      week_ending_weekday: sunday
      columns: {{week_end_date: Wochenende, store_code: Filiale, product_code: Artikel, units: Menge}}
"""
    )
    result = CliRunner().invoke(main, ["sources", "check", "de", "--config", str(entry)])
    assert result.exit_code == 1
    assert "every date in 'Wochenende' is a Saturday: set week_ending_weekday: saturday" in result.output
    missing = CliRunner().invoke(main, ["sources", "check", "fr", "--config", str(entry)])
    assert missing.exit_code == 1 and "no source 'fr'" in missing.output


def test_suggest_refuses_an_unreadable_file_in_one_line(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = CliRunner().invoke(main, ["sources", "suggest", str(path)])
    assert result.exit_code == 1 and "file is empty" in result.output and "Traceback" not in result.output

"""`safecity vehicles import FILE`: the city's vehicle registry from a vehicle office's CSV export."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import Run

HEADER = "plate,plate_colour,vehicle_type,body_colour,make_model,registered_at\n"


def test_a_registry_export_is_imported_and_a_bad_one_is_refused_line_by_line(
    run: Run, tmp_path: Path
) -> None:
    good = tmp_path / "vehicles.csv"
    good.write_text(
        HEADER + "浙C3F721,蓝,轿车,白色,大众朗逸,2019-05-06\n浙C11111,blue,suv,silver,,2024-03-05\n"
    )
    done = run("vehicles", "import", str(good))
    assert done.exit_code == 0, done.output
    assert "2 new registration(s), 0 replaced" in done.output

    # Many offices export GB 18030; the encoding is named, never guessed.
    office = tmp_path / "office.csv"
    office.write_bytes((HEADER + "浙C11111,蓝,越野车,银色,比亚迪宋,2024-03-05\n").encode("gb18030"))
    assert run("vehicles", "import", str(office)).exit_code == 2
    again = run("vehicles", "import", "--encoding", "gb18030", "--replace", str(office))
    assert again.exit_code == 0, again.output
    assert "0 new registration(s), 1 replaced, 1 removed" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "浙C22222,blue,car,white,,2019-05-06\n浙C33333,purple,car,white,,yesterday\n")
    refused = run("vehicles", "import", str(bad))
    assert refused.exit_code == 1
    assert "2 problem(s), nothing imported" in refused.output
    assert "line 3, plate_colour: 'purple' is not a plate colour" in refused.output
    assert "line 3, registered_at: 'yesterday' is not a date" in refused.output
    assert run("vehicles", "import", str(tmp_path / "missing.csv")).exit_code == 2

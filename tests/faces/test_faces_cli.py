"""``detectkit faces ...``: enrol, verify, identify, list, rename, remove, export, import, calibrate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from detectkit.cli import main
from detectkit.faces import Gallery


@pytest.fixture()
def files(tmp_path, astronaut, facenet_file):
    photo = tmp_path / "eileen.png"
    cv2.imwrite(str(photo), cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA))
    cup = tmp_path / "cup.png"
    cv2.imwrite(str(cup), np.full((120, 160, 3), 200, np.uint8))
    return {"photo": photo, "cup": cup, "db": tmp_path / "people.db", "weights": facenet_file, "dir": tmp_path}


def names(db) -> list[str]:
    with Gallery(db) as gallery:
        return gallery.names()


def people(db) -> list:
    with Gallery(db) as gallery:
        return gallery.identities()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_enroll_verify_identify_manage(files, capsys):
    db, weights, photo = str(files["db"]), str(files["weights"]), str(files["photo"])
    model = ["--db", db, "--weights", weights, "--device", "cpu"]
    code, out, _ = run(capsys, "faces", "enroll", "Eileen Collins", photo, str(files["cup"]), "--meta", "role=pilot", *model)
    assert code == 0 and "1 face(s) enrolled, 1 photo(s) rejected" in out and "no face found" in out

    code, out, _ = run(capsys, "faces", "verify", photo, "Eileen Collins", *model)
    assert code == 0 and out.startswith(f"{photo}: yes, Eileen Collins (similarity 1.000")
    flipped = files["dir"] / "flipped.png"
    cv2.imwrite(str(flipped), cv2.imread(photo)[:, ::-1])
    code, out, _ = run(capsys, "faces", "verify", str(flipped), "Eileen Collins", "--threshold", "0.9999", "--json", *model)
    data = json.loads(out)
    assert code == 3 and data["threshold"] == 0.9999 and not data["verified"] and data["similarity"] < 0.9999

    code, out, _ = run(capsys, "faces", "identify", photo, str(files["cup"]), "--json", "--top-k", "2", *model)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [len(line["faces"]) for line in lines] == [1, 0]
    assert lines[0]["faces"][0]["identity"] == "Eileen Collins"

    code, out, _ = run(capsys, "faces", "list", "--db", db)
    assert code == 0 and out.startswith("Eileen Collins: 1 x facenet-test@") and '"role": "pilot"' in out
    assert run(capsys, "faces", "rename", "Eileen Collins", "Eileen", "--db", db)[0] == 0
    export = files["dir"] / "backup.json"
    assert run(capsys, "faces", "export", str(export), "--db", db)[0] == 0
    code, out, _ = run(capsys, "faces", "remove", "Eileen", "--db", db)
    assert code == 0 and "removed Eileen (1 embeddings)" in out
    code, out, _ = run(capsys, "faces", "list", "--db", db, "--json")
    assert json.loads(out) == []
    code, out, _ = run(capsys, "faces", "import", str(export), "--db", db)
    assert code == 0 and "imported 1 people" in out
    assert names(files["db"]) == ["Eileen"]


def test_errors_are_one_line_and_change_nothing(files, capsys):
    db, weights, photo = str(files["db"]), str(files["weights"]), str(files["photo"])
    model = ["--db", db, "--weights", weights, "--device", "cpu"]
    assert run(capsys, "faces", "enroll", "Eileen", photo, *model)[0] == 0
    before = people(files["db"])
    cases = [
        (["faces", "enroll", "bad\tname", photo, *model], "invalid name"),
        (["faces", "enroll", "Cup", str(files["cup"]), *model], "cannot enrol 'Cup': no usable face"),
        (["faces", "enroll", "Ghost", str(files["dir"] / "nope.jpg"), *model], "no such file"),
        (["faces", "verify", str(files["cup"]), "Eileen", *model], "no face found"),
        (["faces", "verify", photo, "Nobody", *model], "no identity named 'Nobody'"),
        (["faces", "remove", "Nobody", "--db", db], "no identity named 'Nobody'"),
        (["faces", "enroll", "X", photo, "--meta", "novalue", *model], "expected KEY=VALUE"),
        (["faces", "import", photo, "--db", db], "neither a gallery database nor a gallery JSON export"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 1 and message in err, (argv, err)
        assert err.startswith("detectkit faces: error:")
    assert people(files["db"]) == before
    text = files["dir"] / "notes.db"
    text.write_text("not a gallery")
    code, _, err = run(capsys, "faces", "list", "--db", str(text))
    assert code == 1 and "not a detectkit gallery" in err and text.read_text() == "not a gallery"
    code, _, err = run(capsys, "faces", "list", "--db", str(files["dir"] / "absent.db"))
    assert code == 1 and "no such gallery file" in err and not (files["dir"] / "absent.db").exists()
    # an enrolment that fails before any photo is read creates no gallery file
    fresh = files["dir"] / "fresh.db"
    for extra, message in [(["--weights", str(files["dir"] / "nope.pt")], "nope.pt"),
                           (["--weights", weights, "--threshold", "3"], "threshold")]:
        code, _, err = run(capsys, "faces", "enroll", "Eileen", photo, "--db", str(fresh), "--device", "cpu", *extra)
        assert code == 1 and message in err and not fresh.exists(), err
    code, _, err = run(capsys, "faces", "import", photo, "--db", str(fresh))
    assert code == 1 and "neither a gallery database" in err and not fresh.exists()
    code, _, err = run(capsys, "faces", "export", db, "--db", db)
    assert code == 1 and "this gallery's own file" in err and people(files["db"]) == before


def test_calibrate_command(files, capsys, tmp_path):
    photo, weights = files["photo"], str(files["weights"])
    flipped = tmp_path / "flipped.png"
    cv2.imwrite(str(flipped), cv2.imread(str(photo))[:, ::-1])
    darker = tmp_path / "darker.png"
    cv2.imwrite(str(darker), (cv2.imread(str(photo)) * 0.7).astype(np.uint8))
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{photo} {flipped} 1\n{photo} {darker} same\n{flipped} {darker} 0\n{photo} {files['cup']} 0\n")
    plot = tmp_path / "roc.png"
    code, out, _ = run(capsys, "faces", "calibrate", str(pairs), "--weights", weights, "--device", "cpu",
                       "--target-far", "0.5", "--plot", str(plot), "--json")
    data = json.loads(out)
    assert code == 0 and data["n_same"] == 2 and data["n_different"] == 1 and data["skipped"] == 1
    assert data["model"].startswith("facenet-test@") and plot.is_file()
    code, _, err = run(capsys, "faces", "calibrate", str(tmp_path / "none.txt"), "--weights", weights)
    assert code == 1 and "no such pairs file" in err

#!/usr/bin/env python3
"""tools/data/dataset_lists.py on small generated examples of each annotation format."""
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

TOOL = pathlib.Path(__file__).resolve().parents[2] / "tools" / "data" / "dataset_lists.py"


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True,
                          text=True)


def read_list(path):
    return [tuple(line.rsplit(" ", 1)) for line in path.read_text().splitlines()]


class DatasetLists(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)
        self.out = self.dir / "out"
        self.root = self.dir / "videos"

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text, crlf=False):
        path = self.dir / "ann" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
        return path

    def ucf101_files(self):
        # As the official ucfTrainTestlist: CRLF, 1-based, HandStandPushups spelt two ways.
        self.write("classInd.txt", "1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n", crlf=True)
        self.write("trainlist01.txt",
                   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
                   "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\n"
                   "YoYo/v_YoYo_g08_c01.avi 3\n", crlf=True)
        self.write("testlist01.txt",
                   "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n"
                   "HandStandPushups/v_HandStandPushups_g01_c01.avi\n\n", crlf=True)

    def test_ucf101(self):
        self.ucf101_files()
        r = run("ucf101", "--annotations", self.dir / "ann", "--split", 1, "--root", self.root,
                "--out-dir", self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.out / "classes.txt").read_text().split(),
                         ["ApplyEyeMakeup", "HandstandPushups", "YoYo"])
        self.assertEqual(read_list(self.out / "train.list"),
                         [("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "0"),
                          ("HandstandPushups/v_HandStandPushups_g08_c01.avi", "1"),
                          ("YoYo/v_YoYo_g08_c01.avi", "2")])
        self.assertEqual(read_list(self.out / "val.list"),
                         [("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "0"),
                          ("HandStandPushups/v_HandStandPushups_g01_c01.avi", "1")])

    def test_ucf101_errors_name_file_and_line(self):
        self.ucf101_files()
        self.write("trainlist01.txt", "ApplyEyeMakeup/a.avi 1\nYoYo/b.avi 1\n")
        r = run("ucf101", "--annotations", self.dir / "ann", "--root", self.root, "--out-dir",
                self.out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("trainlist01.txt:2: label 1 does not match the folder's class YoYo", r.stderr)
        self.write("trainlist01.txt", "Unknown/a.avi 1\n")
        r = run("ucf101", "--annotations", self.dir / "ann", "--root", self.root, "--out-dir",
                self.out)
        self.assertIn("trainlist01.txt:1: expected 'Class/video.avi label'", r.stderr)
        self.assertFalse((self.out / "train.list").exists(), "nothing is written on an error")

    def test_hmdb51(self):
        self.write("brush_hair_test_split1.txt", "a.avi 1 \nb.avi 2 \nc.avi 0 \n")
        self.write("wave_test_split1.txt", "d.avi 2 \ne.avi 1 \n")
        self.write("wave_test_split2.txt", "d.avi 1 \ne.avi 2 \n")
        r = run("hmdb51", "--annotations", self.dir / "ann", "--split", 1, "--root", self.root,
                "--out-dir", self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.out / "classes.txt").read_text().split(), ["brush_hair", "wave"])
        self.assertEqual(read_list(self.out / "train.list"),
                         [("brush_hair/a.avi", "0"), ("wave/e.avi", "1")])
        self.assertEqual(read_list(self.out / "val.list"),
                         [("brush_hair/b.avi", "0"), ("wave/d.avi", "1")])
        self.write("wave_test_split1.txt", "d.avi 2\ne.avi 7\n")
        r = run("hmdb51", "--annotations", self.dir / "ann", "--root", self.root, "--out-dir",
                self.out / "bad")
        self.assertEqual(r.returncode, 2)
        self.assertIn("wave_test_split1.txt:2: expected 'video.avi 0|1|2'", r.stderr)

    def sthv2_files(self, train_template="Holding [something] next to [something]"):
        self.write("something-something-v2-labels.json",
                   json.dumps({"Approaching something with your camera": "0",
                               "Holding something next to something": "1"}))
        self.write("something-something-v2-train.json", json.dumps([
            {"id": "78687", "label": "holding potato next to vicks vaporub bottle",
             "template": train_template, "placeholders": ["potato", "vicks vaporub bottle"]},
            {"id": "42326", "label": "approaching a cup with your camera",
             "template": "Approaching [something] with your camera", "placeholders": ["a cup"]}]))
        self.write("something-something-v2-validation.json", json.dumps([
            {"id": "74225", "label": "holding a pen next to a book",
             "template": "Holding [something] next to [something]", "placeholders": []}]))

    def test_sthv2(self):
        self.sthv2_files()
        for name in ("78687.webm", "74225.webm"):  # 42326 is missing
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_bytes(b"")
        r = run("sthv2", "--annotations", self.dir / "ann", "--root", self.root, "--out-dir",
                self.out, "--check-files")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("train.list: 1 of 2 videos missing", r.stderr)
        self.assertEqual((self.out / "classes.txt").read_text().splitlines(),
                         ["Approaching something with your camera",
                          "Holding something next to something"])
        self.assertEqual(read_list(self.out / "train.list"), [("78687.webm", "1")])
        self.assertEqual(read_list(self.out / "val.list"), [("74225.webm", "1")])

    def test_sthv2_unknown_template_is_named(self):
        self.sthv2_files(train_template="Juggling [something]")
        r = run("sthv2", "--annotations", self.dir / "ann", "--root", self.root, "--out-dir",
                self.out)
        self.assertEqual(r.returncode, 2)
        self.assertIn("something-something-v2-train.json: entry 0 (id 78687): template "
                      "'Juggling [something]' is no class", r.stderr)


if __name__ == "__main__":
    unittest.main()

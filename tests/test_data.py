"""Shipped data sets against scikit-learn's copies, and every path of the file loaders."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ngcspec import data
from ngcspec.data import (
    DataError,
    dataset_info,
    dataset_names,
    load_array,
    load_dataset,
    load_table,
)
from ngcspec.errors import NgcspecError

# --------------------------------------------------------------------------------------------
# shipped data sets
# --------------------------------------------------------------------------------------------


def test_names_and_info_match_the_files():
    assert dataset_names() == ["diabetes", "digits"]
    for name in dataset_names():
        info = dataset_info(name)
        assert info.name == name
        for split, n in info.splits.items():
            arrays = load_dataset(name, split)
            assert set(arrays) == set(info.fields)
            for field, spec in info.fields.items():
                assert arrays[field].shape == (n, *spec.shape), (name, split, field)
                assert arrays[field].dtype == np.dtype(spec.dtype), (name, split, field)
        assert info.splits["train"] + info.splits["test"] == info.splits["all"]


def test_info_is_immutable():
    info = dataset_info("digits")
    with pytest.raises(TypeError):
        info.splits["train"] = 0  # type: ignore[index]


def test_digits_equal_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_digits()
    d = load_dataset("digits", "all")
    np.testing.assert_array_equal(d["x"] * 16, ref.data)  # k/16 is exact in float32
    np.testing.assert_array_equal(d["label"], ref.target)
    np.testing.assert_array_equal(d["y"], np.eye(10, dtype=np.float32)[ref.target])
    assert d["x"].min() == 0.0 and d["x"].max() == 1.0
    # The splits are rows of the full set, so they too equal scikit-learn's images.
    for split in ("train", "test"):
        idx = data._stored("digits")[f"{split}_index"]
        part = load_dataset("digits", split)
        np.testing.assert_array_equal(part["x"] * 16, ref.data[idx])
        np.testing.assert_array_equal(part["label"], ref.target[idx])


def test_digits_split_is_a_stratified_partition():
    stored = data._stored("digits")
    train, test = stored["train_index"].astype(int), stored["test_index"].astype(int)
    assert len(train) == 1437 and len(test) == 360
    assert not set(train) & set(test)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    np.testing.assert_array_equal(np.bincount(load_dataset("digits", "test")["label"]), [36] * 10)
    full = np.bincount(load_dataset("digits", "all")["label"])
    np.testing.assert_array_equal(np.bincount(load_dataset("digits", "train")["label"]), full - 36)


def test_diabetes_split_is_a_partition():
    stored = data._stored("diabetes")
    train, test = stored["train_index"].astype(int), stored["test_index"].astype(int)
    assert (len(train), len(test)) == (354, 88)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(442))


# Pinned digests of the stored splits: a rebuild that draws a different split fails here.
SPLIT_SHA256 = {
    "digits": "f93d72d8752378d7c2300b81d4af51e99d8bc15caf15b9bc9703a68eacea328f",
    "diabetes": "24ac6931d715b3c222dcd69f7ad5d81655d3f2c57e4335a31767abff3077b80a",
}


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_split_is_fixed(name):
    test_index = data._stored(name)["test_index"]
    assert test_index.dtype == np.uint16
    assert hashlib.sha256(test_index.tobytes()).hexdigest() == SPLIT_SHA256[name]


def test_diabetes_equals_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ref = sklearn_datasets.load_diabetes()
    d = load_dataset("diabetes", "all")
    np.testing.assert_allclose(d["x"], ref.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(d["y"][:, 0], ref.target)
    np.testing.assert_allclose(np.linalg.norm(d["x"].astype(np.float64), axis=0), 1.0, rtol=1e-6)
    idx = data._stored("diabetes")["test_index"]
    np.testing.assert_allclose(load_dataset("diabetes", "test")["x"], ref.data[idx], atol=1e-7)


def test_shipped_files_rebuild_identically():
    pytest.importorskip("sklearn")
    from ngcspec.datasets import build

    for name in build.BUILDERS:
        assert build.differences(name) == [], name


def test_loaded_arrays_are_fresh_copies():
    a = load_dataset("digits", "train")
    a["x"][:] = 7.0
    a["label"][:] = 3
    b = load_dataset("digits", "train")
    assert b["x"].max() == 1.0 and b["label"].max() == 9
    with pytest.raises(ValueError):
        data._stored("digits")["pixels"][0, 0] = 1  # the cache is read-only


def test_unknown_dataset_lists_names_and_suggests():
    with pytest.raises(DataError) as err:
        load_dataset("digit", "train")
    msg = str(err.value)
    assert "unknown data set 'digit'" in msg
    assert "diabetes, digits" in msg
    assert "did you mean 'digits'?" in msg
    assert isinstance(err.value, NgcspecError)
    with pytest.raises(DataError, match="unknown data set 'mnist'"):
        dataset_info("mnist")


def test_unknown_split():
    with pytest.raises(DataError) as err:
        load_dataset("digits", "tset")
    assert "unknown split 'tset'" in err.value.message
    assert "all, test, train" in err.value.message
    assert "did you mean 'test'?" in err.value.message


def test_data_module_does_not_import_jax():
    code = (
        "import sys, ngcspec.data as d; d.load_dataset('digits', 'train'); "
        "print('jax' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# load_array
# --------------------------------------------------------------------------------------------


def test_npy_keeps_dtype(tmp_path):
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "a.npy", arr)
    out = load_array(tmp_path / "a.npy")
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, arr)


def test_relative_path_uses_base_dir(tmp_path):
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "a.npy", np.ones(3))
    np.testing.assert_array_equal(load_array("sub/a.npy", base_dir=tmp_path), np.ones(3))
    np.testing.assert_array_equal(load_array("../sub/a.npy", base_dir=tmp_path / "sub"), np.ones(3))


def test_npz_single_array_needs_no_key(tmp_path):
    np.savez(tmp_path / "one.npz", w=np.eye(3))
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz"), np.eye(3))
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz", key="w"), np.eye(3))


def test_npz_multi_needs_key_and_lists_keys(tmp_path):
    np.savez(tmp_path / "two.npz", weights=np.eye(2), bias=np.zeros(2))
    np.testing.assert_array_equal(load_array(tmp_path / "two.npz", "bias"), np.zeros(2))
    with pytest.raises(DataError) as err:
        load_array(tmp_path / "two.npz")
    assert "holds 2 arrays (bias, weights)" in str(err.value)
    assert "give the array's name as key" in str(err.value)


def test_npz_bad_key_lists_keys_and_suggests(tmp_path):
    np.savez(tmp_path / "two.npz", weights=np.eye(2), bias=np.zeros(2))
    with pytest.raises(DataError) as err:
        load_array(tmp_path / "two.npz", key="weight")
    msg = str(err.value)
    assert "no array 'weight'" in msg and "it holds: bias, weights" in msg
    assert "did you mean 'weights'?" in msg


def test_key_refused_for_npy_and_csv(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(2))
    (tmp_path / "a.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="a .npy file holds one unnamed array"):
        load_array(tmp_path / "a.npy", key="x")
    with pytest.raises(DataError, match="only .npz archives have keys"):
        load_array(tmp_path / "a.csv", key="x")


def test_missing_file_gives_absolute_path_and_base(tmp_path):
    circuit_dir = tmp_path / "circuits"
    circuit_dir.mkdir()
    with pytest.raises(DataError) as err:
        load_array("data/missing.npy", base_dir=circuit_dir)
    expected = (circuit_dir / "data" / "missing.npy").resolve()
    assert err.value.message == f"data file not found: {expected}"
    assert "relative paths are resolved against the folder of the circuit file" in err.value.hint
    assert str(circuit_dir.resolve()) in err.value.hint


def test_missing_file_without_base_mentions_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        load_array("missing.csv")
    assert str((tmp_path / "missing.csv").resolve()) in err.value.message
    assert "current directory" in err.value.hint


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(DataError, match="not a file"):
        load_array(tmp_path / "d.npy")


def test_bad_extension(tmp_path):
    (tmp_path / "a.txt").write_text("1,2\n")
    with pytest.raises(DataError) as err:
        load_array(tmp_path / "a.txt")
    assert "unsupported data file type '.txt'" in err.value.message
    assert ".npy, .npz, .csv" in err.value.message
    assert str(tmp_path / "a.txt") in err.value.message
    with pytest.raises(DataError, match=r"type '\(none\)'"):
        load_array(tmp_path / "noext")


def test_object_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError) as err:
        load_array(tmp_path / "obj.npy")
    assert "object array" in err.value.message and "never unpickles" in err.value.message


def test_object_npz_member_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([[1], [1, 2]], dtype=object), ok=np.ones(2))
    with pytest.raises(DataError, match="array 'x' of .* holds Python objects"):
        load_array(tmp_path / "obj.npz", key="x")
    np.testing.assert_array_equal(load_array(tmp_path / "obj.npz", key="ok"), np.ones(2))


def test_pickle_disguised_as_npy_is_refused(tmp_path):
    (tmp_path / "evil.npy").write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(DataError, match="is not a .npy file"):
        load_array(tmp_path / "evil.npy")


def test_text_and_structured_arrays_are_refused(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"holds text \(dtype <U1\)"):
        load_array(tmp_path / "s.npy")
    np.save(tmp_path / "r.npy", np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
    with pytest.raises(DataError, match="structured records"):
        load_array(tmp_path / "r.npy")


def test_corrupt_npz_and_npy(tmp_path):
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a .npz archive"):
        load_array(tmp_path / "bad.npz")
    np.save(tmp_path / "cut.npy", np.arange(100.0))
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cannot read"):
        load_array(tmp_path / "cut.npy")


def test_csv_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("1,2,3\n4, 5 ,6e-1\n\n")
    out = load_array(tmp_path / "a.csv")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1, 2, 3], [4, 5, 0.6]])


def test_csv_with_header_and_bom(tmp_path):
    (tmp_path / "a.csv").write_text("\ufeffa,b\n1,2\n3,nan\n", encoding="utf-8")
    out = load_array(tmp_path / "a.csv")
    assert out.shape == (2, 2) and out[0, 1] == 2 and np.isnan(out[1, 1])


def test_csv_single_column(tmp_path):
    (tmp_path / "a.csv").write_text("v\n1\n2\n")
    np.testing.assert_array_equal(load_array(tmp_path / "a.csv"), [[1.0], [2.0]])


def test_csv_non_numeric_cell_is_located(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(DataError) as err:
        load_array(tmp_path / "a.csv")
    assert "line 3, column 1 ('b'): non-numeric value 'oops'" in err.value.message
    (tmp_path / "b.csv").write_text("1,2\n3,\n")
    with pytest.raises(DataError, match="line 2, column 1: empty value"):
        load_array(tmp_path / "b.csv")


def test_csv_mixed_first_row_is_refused(tmp_path):
    (tmp_path / "a.csv").write_text("1,x\n2,3\n")
    with pytest.raises(DataError, match="mixes numbers and text"):
        load_array(tmp_path / "a.csv")


def test_csv_ragged_and_empty(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="line 3: 1 values, but the header has 2"):
        load_array(tmp_path / "a.csv")
    (tmp_path / "e.csv").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        load_array(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="header but no data rows"):
        load_array(tmp_path / "h.csv")


def test_csv_not_utf8(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        load_array(tmp_path / "a.csv")


# --------------------------------------------------------------------------------------------
# load_table
# --------------------------------------------------------------------------------------------


def test_table_npz_defaults(tmp_path):
    x = np.random.default_rng(0).random((5, 2, 3))
    np.savez(tmp_path / "t.npz", x=x, y=np.arange(5.0), label=np.array([0, 1, 2, 1, 0]))
    t = load_table(tmp_path / "t.npz")
    assert t["x"].shape == (5, 6) and t["x"].dtype == np.float32  # trailing axes flattened
    assert t["y"].shape == (5, 1) and t["y"].dtype == np.float32
    assert t["label"].dtype == np.int32
    np.testing.assert_array_equal(t["label"], [0, 1, 2, 1, 0])


def test_table_npz_named_arrays(tmp_path):
    np.savez(tmp_path / "t.npz", images=np.ones((4, 3)), digits=np.array([1.0, 2, 3, 4]))
    t = load_table(tmp_path / "t.npz", x="images", label="digits")
    assert set(t) == {"x", "label", "images", "digits"} and t["label"].dtype == np.int32
    # without an x, the named arrays are the fields (clamped by name)
    assert set(load_table(tmp_path / "t.npz")) == {"images", "digits"}
    np.savez(tmp_path / "odd.npz", **{"2d images": np.ones((4, 3))})
    with pytest.raises(DataError) as err:
        load_table(tmp_path / "odd.npz")
    assert "has no array named 'x'; it holds: 2d images" in err.value.message
    assert "x=<name>" in err.value.hint
    with pytest.raises(DataError, match="no array 'digit'.*did you mean 'digits'"):
        load_table(tmp_path / "t.npz", x="images", y="digit")


def test_table_csv_by_name_and_index(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c,cls\n1,2,3,0\n4,5,6,2\n")
    t = load_table(tmp_path / "t.csv", y="c", label="cls")
    np.testing.assert_array_equal(t["x"], [[1, 2], [4, 5]])  # the columns left over
    np.testing.assert_array_equal(t["y"], [[3], [6]])
    np.testing.assert_array_equal(t["label"], [0, 2])
    t = load_table(tmp_path / "t.csv", x=[0, "b"], y=[-2])
    np.testing.assert_array_equal(t["x"], [[1, 2], [4, 5]])
    np.testing.assert_array_equal(t["y"], [[3], [6]])
    assert set(load_table(tmp_path / "t.csv")) == {"x"}
    assert load_table(tmp_path / "t.csv")["x"].shape == (2, 4)


def test_table_csv_selection_errors(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "n.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match="no column 'bb'.*a, b, c.*did you mean 'b'"):
        load_table(tmp_path / "t.csv", y="bb")
    with pytest.raises(DataError, match="has no header row"):
        load_table(tmp_path / "n.csv", y="a")
    with pytest.raises(DataError, match="index 3 is out of range .* 3 columns"):
        load_table(tmp_path / "n.csv", y=3)
    with pytest.raises(DataError, match="chosen for both y and x"):
        load_table(tmp_path / "t.csv", x=["a", "b"], y="b")
    with pytest.raises(DataError, match="exactly one column"):
        load_table(tmp_path / "t.csv", label=["a", "b"])
    with pytest.raises(DataError, match="no columns .* left"):
        load_table(tmp_path / "t.csv", y=["a", "b", "c"])
    with pytest.raises(DataError, match="got 1.5"):
        load_table(tmp_path / "t.csv", y=1.5)  # type: ignore[arg-type]


def test_table_checks_values(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones((3, 2)), label=np.array([0.0, 1.5, 2.0]))
    with pytest.raises(DataError, match="non-integer"):
        load_table(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.ones((3, 2)), label=np.array([0, -1, 2]))
    with pytest.raises(DataError, match="negative"):
        load_table(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", x=np.ones((3, 2)), y=np.ones(4))
    with pytest.raises(DataError, match="different numbers of samples: x 3, y 4"):
        load_table(tmp_path / "c.npz")
    (tmp_path / "d.csv").write_text("1,2\nnan,3\n")
    with pytest.raises(DataError, match="x in .* holds 1 non-finite values .* sample 1"):
        load_table(tmp_path / "d.csv")
    np.savez(tmp_path / "e.npz", x=np.float32(1.0))
    with pytest.raises(DataError, match="single number"):
        load_table(tmp_path / "e.npz")


def test_table_refuses_unknown_types(tmp_path):
    (tmp_path / "a.txt").write_text("1 2")
    with pytest.raises(DataError) as err:
        load_table(tmp_path / "a.txt")
    assert "expected .npz, .csv, .npy, .idx" in err.value.message


def test_table_missing_file(tmp_path):
    with pytest.raises(DataError, match="data file not found: .*missing.npz"):
        load_table("missing.npz", base_dir=tmp_path)

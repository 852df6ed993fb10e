"""Rebuild the shipped ``.npz`` files from the copies bundled with scikit-learn.

Run once by a maintainer, never at run time (scikit-learn is only a test dependency):

    python -m ngcspec.datasets.build           # rewrite digits.npz and diabetes.npz
    python -m ngcspec.datasets.build --check   # exit 1 if the shipped files differ

The splits are drawn here with a fixed seed and stored in the files, so loading never depends
on a random generator. The archives are written with a fixed timestamp so that a rebuild gives
the same bytes and leaves git clean.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 1797
DIGITS_TEST_PER_CLASS = 36  # 360 test / 1,437 train, the same number of each digit in test
DIABETES_N_TEST = 88  # about 20 % of 442


def digits_arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = bunch.data
    labels = bunch.target
    assert np.array_equal(pixels, np.round(pixels)) and pixels.min() >= 0 and pixels.max() <= 16
    rng = np.random.default_rng(SEED)
    test = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), DIGITS_TEST_PER_CLASS, replace=False)
            for c in range(10)
        ]
    )
    test = np.sort(test)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return {
        "pixels": pixels.astype(np.uint8),
        "labels": labels.astype(np.uint8),
        "train_index": train.astype(np.uint16),
        "test_index": test.astype(np.uint16),
    }


def diabetes_arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    target = bunch.target
    assert np.array_equal(target, np.round(target)) and target.max() < 2**16
    rng = np.random.default_rng(SEED)
    test = np.sort(rng.permutation(len(target))[:DIABETES_N_TEST])
    train = np.setdiff1d(np.arange(len(target)), test)
    return {
        # Raw values, float64: the standardisation is done by the loader, as scikit-learn does.
        "features": bunch.data.astype(np.float64),
        "target": target.astype(np.uint16),
        "feature_names": np.array(bunch.feature_names, dtype="U8"),
        "train_index": train.astype(np.uint16),
        "test_index": test.astype(np.uint16),
    }


BUILDERS = {"digits": digits_arrays, "diabetes": diabetes_arrays}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible (fixed member timestamps)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def differences(name: str) -> list[str]:
    """Which arrays of the shipped ``<name>.npz`` differ from a rebuild (empty: identical)."""
    fresh = BUILDERS[name]()
    with np.load(HERE / f"{name}.npz", allow_pickle=False) as shipped:
        keys = set(shipped.files) | set(fresh)
        return sorted(
            k for k in keys
            if k not in fresh or k not in shipped.files
            or fresh[k].dtype != shipped[k].dtype or not np.array_equal(fresh[k], shipped[k])
        )


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = {name: diff for name in BUILDERS if (diff := differences(name))}
        for name, diff in bad.items():
            print(f"{name}.npz differs from a rebuild in: {', '.join(diff)}")
        return 1 if bad else 0
    for name, build in BUILDERS.items():
        write_npz(HERE / f"{name}.npz", build())
        print(f"wrote {HERE / f'{name}.npz'} ({(HERE / f'{name}.npz').stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

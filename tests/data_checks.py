"""Helpers shared by the data tests: build an iterator, take batches, compare two runs of batches."""
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gans import data


def make_iterator(name, data_dir, **kwargs):
    """`data.make_iterator` for one process with seed 0 unless told otherwise."""
    kwargs.setdefault('seed', 0)
    kwargs.setdefault('process_index', 0)
    kwargs.setdefault('process_count', 1)
    return data.make_iterator(name, data_dir=data_dir, **kwargs)


def take(it, n):
    return [next(it) for _ in range(n)]


def assert_same_batches(a, b):
    """The two lists hold the same batches: same keys, equal arrays."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def write_tfds_metadata(name, data_dir, splits):
    """What `tfds build NAME --file_format=array_record` leaves besides the records: the info
    files, so that TFDS (and tfds.testing.mock_data) see NAME as prepared with these splits."""
    builder = tfds.builder(name, data_dir=data_dir)
    template = lambda split: tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name=builder.name, split=split,
        filetype_suffix='array_record')
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0, filename_template=template(s))
        for s, n in splits.items()]))
    builder.info.set_file_format('array_record', override=True)
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)


def real_config(name):
    """The shipped config `name`, or a skip when its dataset (Fashion-MNIST, from Debian's package)
    is not on this machine."""
    from gans import config as config_lib
    from gans import data
    config = config_lib.load_config(name)
    try:
        data.config_spec(config)
    except data.DatasetNotPreparedError as error:
        pytest.skip(f'Fashion-MNIST is not installed here: {error}')
    return config

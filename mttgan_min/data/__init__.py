"""Data layer (paper Sec. IV-A): loaders for the Kaggle pneumonia and COVID-19 sets, synthetic phantoms,
the patient-wise held-out test split with duplicates merged across patient ids, soft augmentation
(crop, then resize), and a cache of decoded images.

Entry points for the training job: ``prepare_data`` and ``epoch_real_batches``. Command line:
``python -m mttgan_min.data --help``.
"""
from .augment import crop_and_resize, epoch_real_batches, iterations_per_epoch, random_crop_boxes
from .cache import default_cache_dir
from .covid import load_covid
from .dataset import CLASSES, DataError, Dataset, concat, source_size
from .duplicates import find_duplicates
from .images import decode_file, to_gray8
from .kaggle import load_kaggle
from .prepare import PreparedData, load_pool, prepare_data
from .resample import resize
from .split import split_test
from .synthetic import make_synthetic

__all__ = ["CLASSES", "DataError", "Dataset", "PreparedData", "concat", "crop_and_resize",
           "decode_file", "default_cache_dir", "epoch_real_batches", "find_duplicates",
           "iterations_per_epoch", "load_covid", "load_kaggle", "load_pool", "make_synthetic",
           "prepare_data", "random_crop_boxes", "resize", "source_size", "split_test", "to_gray8"]

"""Detectron2 extension for multi-object and long-term single-object tracking.

Importing this package registers its datasets, mappers and models with Detectron2.
"""
from . import data, engine, modeling
from .config import add_mot_config, fall_back_to_cpu, merge_config_file

"""Registered Detectron2 models of the project (importing registers them)."""
from . import backbone, dmtrack, one_shot, reid, siammot
